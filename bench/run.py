"""How long and how much memory evaluating the program takes, next to its floor (issue #6).

    python bench/run.py [--runs N] [--json PATH] [--only TEXT]

Cases: every stack in ``tests/variants.py`` and ``tests/kubernetes_stacks.py``, every
``examples/Pulumi.*.yaml``, and generated dev-like configs (container Postgres, file storage) with 1, 10
and 100 homeservers.

Program: a fresh interpreter that imports ``tests.pulumi_harness`` and evaluates
``__main__.py`` under Pulumi mocks with the case's config (``run_program``),
mocks and harness included. Floor: a fresh interpreter that only imports every
library the case's run loads: ``pulumi``, the provider SDK modules it needs (the
lazily loaded ``pulumi_aws`` and ``pulumi_kubernetes`` submodules included),
pydantic and PyYAML; nothing of this project.

Both are measured the same way. Wall time: ``perf_counter`` here, around
spawning the child and reaping it, so interpreter start and exit are in both.
Peak memory: the child's own high-water RSS (``VmHWM``), which it reads just
before it exits; ``ru_maxrss`` would not do, as on Linux it includes the RSS of
this process, from which the child was forked. Every case runs once untimed
(to warm the page cache and write bytecode), then ``--runs`` rounds, each
running every case's program and its floor back to back (in alternating order),
so that a slow spell of the machine hits both. The table shows medians, the
ratio is of the medians; the JSON holds every sample, CPU time included.

Not part of ``pytest``: timing on a shared machine is no pass/fail matter. The
targets are reported as PASS or MISS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.kubernetes_stacks import EXTRA_CONFIG as KUBERNETES_EXTRA_CONFIG  # noqa: E402 - needs the root on sys.path
from tests.kubernetes_stacks import SECRET_KEYS as KUBERNETES_SECRET_KEYS  # noqa: E402
from tests.kubernetes_stacks import VARIANTS as KUBERNETES_VARIANTS  # noqa: E402
from tests.test_examples import with_readme_secrets  # noqa: E402 - needs the project root on sys.path
from tests.variants import PROVIDER_CONFIG, VARIANTS, example_stack_files  # noqa: E402

STACK_TARGET = 1.25  # program time at most this times its floor, for every stack
SCALE_TARGET = 2.0  # 100 homeservers at most this times the time of 1
HOMESERVER_COUNTS = (1, 10, 100)
SDK_PACKAGES = ("pulumi", "pulumi-docker", "pulumi-random", "pulumi-aws", "pulumi-digitalocean", "pydantic")

# Both children end with this: what they loaded and their peak memory.
REPORT = """
def _peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

_sdks = sorted({name.partition(".")[0] for name in sys.modules if name.startswith("pulumi")})
print(json.dumps({"resources": resources, "sdks": _sdks, "peak_kib": _peak_kib()}))
"""

PROGRAM = (
    """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.pulumi_harness import run_program
case = json.loads(sys.argv[2])
# collect_garbage=False: the harness's collection between programs is for the tests, not part of `pulumi up`.
run = run_program(case["config"], extra_config=case["extra_config"], secret_keys=tuple(case["secret_keys"]),
                  stack=case["stack"], collect_garbage=False)
resources = len(run.registrations)
"""
    + REPORT
)

FLOOR = (
    """
import importlib, json, sys
for name in sys.argv[1:]:
    # `import` leaves a pulumi_aws submodule lazy; reading an attribute through it is what loads it.
    module = importlib.import_module(name)
    getattr(module, "__all__", None)
    assert type(module).__name__ == "module", name
resources = 0
"""
    + REPORT
)


@dataclass(frozen=True)
class Case:
    name: str
    # "stack" cases are held to STACK_TARGET; "scale" cases to SCALE_TARGET.
    kind: str
    stack: str
    config: Mapping[str, Any]
    extra_config: Mapping[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()

    @property
    def floor_modules(self) -> tuple[str, ...]:
        return floor_modules(self.config)

    def program_command(self) -> list[str]:
        payload = {
            "config": self.config,
            "extra_config": dict(self.extra_config),
            "secret_keys": list(self.secret_keys),
            "stack": self.stack,
        }
        return [sys.executable, "-c", PROGRAM, str(ROOT), json.dumps(payload)]


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    max_rss_kib: int
    resources: int
    sdks: list[str]


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(s.seconds for s in self.samples) * 1000

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(s.cpu_seconds for s in self.samples) * 1000

    @property
    def median_rss_mib(self) -> float:
        return statistics.median(s.max_rss_kib for s in self.samples) / 1024


def floor_modules(config: Mapping[str, Any]) -> tuple[str, ...]:
    """What the stack cannot do without: pulumi, the SDK modules of the resources it declares, pydantic, PyYAML.

    pydantic validates the stack config and PyYAML renders MMR's config: every run loads both.
    """
    database = (config.get("database") or {}).get("provider", "container")
    s3 = (config.get("s3") or {}).get("provider")
    # pydantic.main: `from pydantic import BaseModel` loads it, and with it the schema machinery.
    modules = ["pulumi", "pydantic", "pydantic.main", "yaml"]
    if config.get("platform") == "kubernetes":
        kubernetes = config.get("kubernetes") or {}
        modules += [f"pulumi_kubernetes.{group}" for group in ("core.v1", "apps.v1", "networking.v1", "policy.v1")]
        if (kubernetes.get("autoscaling") or {}).get("enabled"):
            modules.append("pulumi_kubernetes.autoscaling.v2")
        if config.get("import") or database == "digitalocean":
            modules.append("pulumi_kubernetes.batch.v1")
        if kubernetes.get("podMonitor"):
            modules.append("pulumi_kubernetes.apiextensions")
    else:
        modules.append("pulumi_docker")  # networks, volumes and MMR's container
    if database == "container" or (config.get("sharedSecretAuth") or {}).get("enabled"):
        modules.append("pulumi_random")  # the container Postgres's password, MMR's shared-secret token
    if s3 == "aws":
        # The bucket and its settings, and MMR's IAM user; get_region is in the package itself.
        modules += ["pulumi_aws", "pulumi_aws.s3", "pulumi_aws.iam"]
    if "digitalocean" in (database, s3):
        modules.append("pulumi_digitalocean")
    return tuple(modules)


def homeservers_config(count: int) -> dict[str, Any]:
    return {
        "homeservers": [
            {"name": f"hs{index}.example.org", "csApi": f"http://synapse-{index}:8008", "adminApiKind": "synapse"}
            for index in range(count)
        ]
    }


def all_cases() -> list[Case]:
    cases = [Case(name, "stack", name, make(), PROVIDER_CONFIG.get(name, {})) for name, make in VARIANTS.items()]
    for name, config in KUBERNETES_VARIANTS.items():
        cases.append(
            Case(f"kubernetes {name}", "stack", "prod", config, KUBERNETES_EXTRA_CONFIG[name], KUBERNETES_SECRET_KEYS)
        )
    for path in example_stack_files():
        ours, others, secret_keys = with_readme_secrets(path)
        cases.append(Case(f"examples/{path.name}", "stack", path.stem.split(".")[1], ours, others, secret_keys))
    for count in HOMESERVER_COUNTS:
        label = f"{count} homeserver{'s' if count > 1 else ''}"
        cases.append(Case(label, "scale", "dev", homeservers_config(count)))
    return cases


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Python's ordinary bytecode cache, as under `pulumi up`: a shell that turns it
    # off would make the program, and not the floor (site-packages has its .pyc
    # files), pay for compiling this project's modules at every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def sample(command: Sequence[str], env: Mapping[str, str]) -> Sample:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        # wait4 rather than child.wait(): it gives this one child's CPU time.
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"{command[:2]} failed ({child.returncode}):\n{err.read().decode()}")
        report = json.loads(out.read().decode().strip().splitlines()[-1])
    return Sample(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_kib=report["peak_kib"],
        resources=report["resources"],
        sdks=report["sdks"],
    )


def floor_command(modules: Iterable[str]) -> list[str]:
    return [sys.executable, "-c", FLOOR, *modules]


def measure(cases: Sequence[Case], runs: int) -> tuple[dict[str, Series], dict[str, Series]]:
    """(program series, floor series) by case name.

    The floor runs beside every case, not once per set of SDKs: this machine's
    speed drifts by tens of percent within a minute, and a floor sampled
    seconds away from its program would carry that drift into the ratio.
    """
    env = child_env()
    programs = {case.name: Series() for case in cases}
    floors = {case.name: Series() for case in cases}
    for round_number in range(runs + 1):
        warm_up = round_number == 0
        for case in cases:
            pair = [(programs, case.program_command()), (floors, floor_command(case.floor_modules))]
            # Alternate which goes first, so neither always inherits the other's cache and CPU state.
            for series, command in pair if round_number % 2 else reversed(pair):
                result = sample(command, env)
                if not warm_up:
                    series[case.name].samples.append(result)
        print(f"{'warm-up' if warm_up else f'run {round_number}/{runs}'} done", file=sys.stderr, flush=True)
    return programs, floors


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in SDK_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": model or platform.processor(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(cases: Sequence[Case], programs: Mapping[str, Series], floors: Mapping[str, Series]) -> dict[str, Any]:
    rows = []
    for case in cases:
        program, floor = programs[case.name], floors[case.name]
        ratio = program.median_ms / floor.median_ms
        paired = [p.seconds / f.seconds for p, f in zip(program.samples, floor.samples, strict=True)]
        # An SDK the program loads beyond its floor is what #6 forbids, and would make the ratio meaningless.
        extra_sdks = sorted(set(program.samples[0].sdks) - set(floor.samples[0].sdks))
        rows.append(
            {
                "case": case.name,
                "kind": case.kind,
                "resources": program.samples[0].resources,
                "floor_modules": list(case.floor_modules),
                "extra_sdks": extra_sdks,
                "median_ms": round(program.median_ms, 1),
                "floor_median_ms": round(floor.median_ms, 1),
                "ratio": round(ratio, 3),
                # Less swayed by the machine's drift than the ratio of medians: each pair ran back to back.
                "median_paired_ratio": round(statistics.median(paired), 3),
                "median_cpu_ms": round(program.median_cpu_ms, 1),
                "floor_median_cpu_ms": round(floor.median_cpu_ms, 1),
                "peak_rss_mib": round(program.median_rss_mib, 1),
                "floor_rss_mib": round(floor.median_rss_mib, 1),
                "target": f"<= {STACK_TARGET}x floor" if case.kind == "stack" else None,
                "verdict": verdict(ratio <= STACK_TARGET) if case.kind == "stack" else None,
                "samples": [asdict(s) for s in program.samples],
                "floor_samples": [asdict(s) for s in floor.samples],
            }
        )
    by_name = {row["case"]: row for row in rows}
    stacks = [row for row in rows if row["kind"] == "stack"]
    checks = {
        f"each stack <= {STACK_TARGET}x floor": {
            "verdict": verdict(all(row["verdict"] == "PASS" for row in stacks)),
            "worst": max(stacks, key=lambda row: row["ratio"])["case"] if stacks else None,
            "misses": [row["case"] for row in stacks if row["verdict"] != "PASS"],
        },
    }
    first, last = f"{HOMESERVER_COUNTS[0]} homeserver", f"{HOMESERVER_COUNTS[-1]} homeservers"
    if first in by_name and last in by_name:
        scale = by_name[last]["median_ms"] / by_name[first]["median_ms"]
        checks[f"{last} <= {SCALE_TARGET}x of {HOMESERVER_COUNTS[0]}"] = {
            "ratio": round(scale, 3),
            "verdict": verdict(scale <= SCALE_TARGET),
        }
    return {"machine": machine(), "checks": checks, "rows": rows}


def markdown(result: Mapping[str, Any], runs: int) -> str:
    lines = [
        f"Medians of {runs} runs, each a fresh process: wall time from spawn to exit, peak RSS (VmHWM) of the process.",
        "",
        "| case | resources | time (ms) | floor (ms) | ratio | peak RSS (MiB) | floor RSS (MiB) | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        target = f"{row['verdict']} (<= {STACK_TARGET}x)" if row["verdict"] else ""
        if row["extra_sdks"]:
            target += f" loads {', '.join(row['extra_sdks'])} beyond its floor"
        lines.append(
            f"| {row['case']} | {row['resources']} | {row['median_ms']:.0f} | {row['floor_median_ms']:.0f} | "
            f"{row['ratio']:.2f}x | {row['peak_rss_mib']:.1f} | {row['floor_rss_mib']:.1f} | {target.strip()} |"
        )
    lines.append("")
    for name, check in result["checks"].items():
        detail = f" ({check['ratio']:.2f}x)" if "ratio" in check else ""
        if check.get("misses"):
            detail = f" (missed by: {', '.join(check['misses'])})"
        lines.append(f"- {name}: **{check['verdict']}**{detail}")
    info = result["machine"]
    lines += ["", f"Machine: {info['cpu']}, {info['cpus']} CPUs, {info['platform']}, Python {info['python']}."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (default 7)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json", help="where to write results")
    parser.add_argument("--only", default="", help="only the cases whose name contains this text")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    cases = [case for case in all_cases() if args.only in case.name]
    if not cases:
        parser.error(f"no case matches {args.only!r}")
    programs, floors = measure(cases, args.runs)
    result = report(cases, programs, floors)
    result["runs"] = args.runs
    result["command"] = " ".join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    print(markdown(result, args.runs))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
