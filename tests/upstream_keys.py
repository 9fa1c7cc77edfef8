"""Checks a rendered ``media-repo.yaml`` against every key and Go type MMR accepts.

The list is read off MMR's source into ``tests/upstream/mmr/config-keys.tsv``
(path, Go type, default, note). MMR ignores an unknown key silently and stops
at startup on a wrong type, so both are reported here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

UPSTREAM = Path(__file__).resolve().parent / "upstream" / "mmr"
KEYS_TSV = UPSTREAM / "config-keys.tsv"
KEYS_TXT = UPSTREAM / "config-keys.txt"

# What Go's strconv.ParseBool accepts; MMR reads any other string in a bool opt as false.
GO_BOOL_STRINGS = {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}


@cache
def upstream_types() -> dict[str, str]:
    """Config path -> Go type, e.g. ``repo.port -> int``, ``datastores[].opts.* -> map[string]string``."""
    types: dict[str, str] = {}
    for line in KEYS_TSV.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        path, go_type, *_ = line.split("\t")
        types[path] = go_type
    listed = {line for line in KEYS_TXT.read_text().splitlines() if line and not line.startswith("#")}
    # The two files are read off the same structs: a difference means one is stale.
    assert listed == set(types), f"config-keys.txt and .tsv disagree: {sorted(listed ^ set(types))}"
    return types


def _type_error(go_type: str, value: Any) -> str | None:
    if go_type == "string":
        ok = isinstance(value, str)
    elif go_type in ("int", "int64"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif go_type in ("float32", "float64"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif go_type == "bool":
        ok = isinstance(value, bool)
    elif go_type == "string(bool)":
        ok = isinstance(value, str) and value in GO_BOOL_STRINGS
    elif go_type == "string(int)":
        ok = isinstance(value, str) and value.lstrip("-").isdigit()
    elif go_type == "[]string":
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif go_type == "map[string]string":
        ok = isinstance(value, dict) and all(isinstance(item, str) for item in value.values())
    elif go_type.startswith("map[string]interface"):
        ok = isinstance(value, dict)
    else:
        return f"unknown Go type {go_type!r} in the upstream list"
    return None if ok else f"{value!r} is not a Go {go_type}"


def upstream_violations(document: Any) -> list[str]:
    """Every key MMR would ignore and every value of the wrong type, as ``path: problem``."""
    types = upstream_types()
    problems: list[str] = []

    def known_prefix(path: str) -> bool:
        return any(key.startswith((f"{path}.", f"{path}[]")) for key in types)

    def check_leaf(value: Any, path: str) -> None:
        go_type = types[path]
        if go_type.startswith("struct{}"):
            if value not in (None, {}):
                problems.append(f"{path}: takes no keys")
        elif error := _type_error(go_type, value):
            problems.append(f"{path}: {error}")

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if child in types:
                    check_leaf(item, child)
                elif f"{path}.*" in types:
                    check_leaf({key: item}, f"{path}.*")
                elif known_prefix(child):
                    walk(item, child)
                else:
                    problems.append(f"{child}: not a key MMR knows (it would be ignored)")
        elif isinstance(value, list) and f"{path}[]" in types:
            for item in value:
                if error := _type_error(types[f"{path}[]"].removeprefix("[]"), item):
                    problems.append(f"{path}[]: {error}")
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{path}[]")
        else:
            problems.append(f"{path}: {value!r} where MMR expects a mapping")

    walk(document, "")
    return problems
