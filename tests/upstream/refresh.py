"""Reads MMR's config keys, their Go types and its metric names again from an MMR checkout.

    git clone https://github.com/t2bot/matrix-media-repo /tmp/mmr && git -C /tmp/mmr checkout v1.3.8
    python tests/upstream/refresh.py /tmp/mmr            # shows what changed
    python tests/upstream/refresh.py /tmp/mmr --write    # rewrites tests/upstream/mmr/*

Config keys come from the yaml tags of ``MainRepoConfig`` and the structs it
reaches in ``common/config/*.go``; metrics from ``prometheus.New*`` in
``metrics/metrics.go``. Datastore ``opts`` keys are not struct fields (MMR reads
them from a map in ``datastores/*.go``): their lines, and the default and note
columns of every line, are kept from the current files.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "mmr"
_STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.S | re.M)
_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?([\w\[\]\*\.{}]+)\s+`[^`]*?yaml:\"([^\"]*)\"[^`]*`", re.M)
_METRIC = re.compile(
    r"prometheus\.New(\w+?)(?:Vec)?\(prometheus\.\w+Opts\{\s*Name:\s*\"(\w+)\".*?\}(?:,\s*\[\]string\{([^}]*)\})?", re.S
)
SCALARS = {"string", "int", "int64", "bool", "float64"}


def structs(checkout: Path) -> dict[str, list[tuple[str, str]]]:
    """Struct name -> [(yaml tag, Go type)], embedded (inline) structs as tag ",inline"."""
    found: dict[str, list[tuple[str, str]]] = {}
    for source in sorted((checkout / "common" / "config").glob("*.go")):
        for name, body in _STRUCT.findall(source.read_text()):
            fields = []
            for _field_name, go_type, tag in _FIELD.findall(body):
                fields.append((tag.split(",")[0] if not tag.startswith(",inline") else ",inline", go_type))
            found[name] = fields
    return found


def key_paths(all_structs: dict[str, list[tuple[str, str]]], struct: str, prefix: str = "") -> dict[str, str]:
    paths: dict[str, str] = {}
    for tag, go_type in all_structs[struct]:
        bare = go_type.lstrip("*")
        if tag == ",inline":
            paths.update(key_paths(all_structs, bare, prefix))
            continue
        path = f"{prefix}{tag}"
        if bare.startswith("[]"):
            item = bare[2:].lstrip("*")
            if item in all_structs:
                paths.update(key_paths(all_structs, item, f"{path}[]."))
            else:
                paths[f"{path}[]"] = bare
        elif bare.startswith("map["):
            paths[f"{path}.*"] = bare
        elif bare in all_structs and not all_structs[bare]:
            paths[path] = "struct{} (no keys)"
        elif bare in all_structs:
            paths.update(key_paths(all_structs, bare, f"{path}."))
        else:
            paths[path] = bare
    return paths


def metrics(checkout: Path) -> list[str]:
    lines = []
    for _kind, name, labels in _METRIC.findall((checkout / "metrics" / "metrics.go").read_text()):
        names = [label.strip().strip('"') for label in labels.split(",") if label.strip()]
        lines.append(f"{name}\t{','.join(names)}")
    return lines


def _data_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", type=Path, help="an MMR git checkout at the version to read")
    parser.add_argument("--write", action="store_true", help="rewrite tests/upstream/mmr/* instead of comparing")
    arguments = parser.parse_args()
    checkout: Path = arguments.checkout
    commit = subprocess.run(["git", "-C", str(checkout), "describe", "--tags", "--always"], capture_output=True,
                            text=True).stdout.strip() or "unknown"  # fmt: skip
    read = key_paths(structs(checkout), "MainRepoConfig")
    kept = {line.split("\t")[0]: line for line in _data_lines(HERE / "config-keys.tsv")}
    tsv = []
    for path, go_type in read.items():
        old = kept.get(path, "").split("\t")
        tsv.append("\t".join([path, go_type, *(old[2:] if len(old) > 2 else ["", ""])]))
    tsv += [line for path, line in kept.items() if path.startswith("datastores[].opts.") and path not in read]
    new_metrics = metrics(checkout)
    changes = sorted(set(kept) ^ {line.split("\t")[0] for line in tsv}) + sorted(
        set(_data_lines(HERE / "metrics.tsv")) ^ set(new_metrics)
    )
    if not arguments.write:
        print("\n".join(changes) if changes else f"no change against {commit}")
        return 1 if changes else 0
    header = f"# Read by tests/upstream/refresh.py from t2bot/matrix-media-repo {commit}.\n"
    (HERE / "config-keys.tsv").write_text(
        header + "# path\tgo_type\tcode_default_when_omitted\tnote\n" + "\n".join(tsv) + "\n"
    )
    (HERE / "config-keys.txt").write_text(header + "\n".join(line.split("\t")[0] for line in tsv) + "\n")
    (HERE / "metrics.tsv").write_text(header + "# name\tlabels\n" + "\n".join(new_metrics) + "\n")
    print(f"rewrote {HERE} from {commit}: {len(changes)} line(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
