"""Every fix the program prints converges: run as printed, it clears the error or the warning it was printed for
(tests/fix_property.py), for each command it offers. Driven by the configs the other tests refuse or warn about,
and by generated stacks: every enum field of the stack config with a value outside its set, and every free-form
field the program checks against a list.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from config_schema.errors import alternatives
from config_schema.fixes import bare_annotation
from config_schema.stack import StackConfig
from tests.fix_property import assert_fix_clears, assert_warning_fix_clears, still_reported, warned
from tests.fix_runner import reported
from tests.test_bad_input import CASES
from tests.test_every_fix_is_bash import MORE, WARNED
from tests.test_printed_fixes import BASE, MEANT, UNKNOWABLE, _set
from tests.test_validation import INVALID
from tests.variants import MINIMAL_DIGITALOCEAN_HOST

Loc = tuple[str | int, ...]


def enum_fields(model: type[BaseModel] = StackConfig, loc: Loc = ()) -> Iterator[tuple[Loc, tuple[Any, ...]]]:
    """(location, allowed values) of every Literal and bool field of the stack config, lists entered at item 0."""
    for name, field in model.model_fields.items():
        here = (*loc, field.alias or name)
        annotation = bare_annotation(field.annotation)
        if typing.get_origin(annotation) is list:
            here, annotation = (*here, 0), bare_annotation(typing.get_args(annotation)[0])
        if typing.get_origin(annotation) is Literal:
            yield here, typing.get_args(annotation)
        elif annotation is bool:
            yield here, (True, False)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from enum_fields(annotation, here)


ENUM_FIELDS = sorted(enum_fields(), key=repr)
K8S = {"platform": "kubernetes", "kubernetes": {"replicas": 1}}
# What a field needs beside it to be read at all (a key of the Kubernetes platform, a made host, a database kind).
CONTEXT: dict[str, dict[str, Any]] = {
    "kubernetes": K8S,
    "host": {"host": copy.deepcopy(MINIMAL_DIGITALOCEAN_HOST["host"])},
    "database.trustedSources": {"database": {"provider": "digitalocean", "trustedSources": [{"value": "x"}]}},
    "database.aws": {"database": {"provider": "aws"}},
    "import": {
        "import": {
            "from": "synapse",
            "dbHost": "db",
            "dbName": "synapse",
            "dbUsername": "synapse",
            "dbPassword": "pw",
            "baseUrl": "http://synapse:8008",
        }
    },
    "s3": {"s3": {"provider": "aws"}},
}
# Free-form fields checked against a list the program holds: (location, context, values outside the list).
LISTED_FIELDS: list[tuple[Loc, dict[str, Any], list[str]]] = [
    (("host", "region"), CONTEXT["host"], ["mars1", "nyc2", "fra2", "eu-west-1"]),
    (("host", "size"), CONTEXT["host"], ["huge", "s-1vcpu-2gb", "S 2 VCPU"]),
    (("database", "postgresVersion"), {}, ["9", "17.2", "latest"]),
    (("database", "postgresVersion"), CONTEXT["database.aws"], ["11", "seventeen"]),
    (("import", "serverName"), CONTEXT["import"], ["chat.other.net", "example.or"]),
]


def _stack(loc: Loc, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    dotted = ".".join(str(part) for part in loc if isinstance(part, str))
    for prefix, context in CONTEXT.items():
        if dotted.startswith(prefix):
            for key, part in copy.deepcopy(context).items():
                config[key] = {**config.get(key, {}), **part} if isinstance(part, dict) else part
    _set(config, list(loc), value)
    return config


def _key(loc: Loc) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).removeprefix(".")


OUTSIDE = st.one_of(
    st.sampled_from(["openshift", "azure", "gcs", "aws3x", "yes-maybe", "", "NONE", "tru"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=12),
    st.integers(-3, 99999),
)


def test_every_enum_field_is_found() -> None:
    keys = {_key(loc) for loc, _ in ENUM_FIELDS}
    assert {"platform", "database.provider", "s3.provider", "host.provider", "docker.logs.driver"} <= keys
    assert "database.trustedSources[0].type" in keys and "homeservers[0].adminApiKind" in keys


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(ENUM_FIELDS), value=OUTSIDE)
def test_an_enum_field_outside_its_set_gets_a_fix_that_clears_it(
    field: tuple[Loc, tuple[Any, ...]], value: Any
) -> None:
    loc, allowed = field
    if value in allowed or str(value).lower() in {str(choice).lower() for choice in allowed}:
        return
    config = _stack(loc, value)
    problems = reported(config)
    # pydantic reads "f", "no", "off", 0 and 1 as booleans, as the program means it to.
    assume(problems or allowed != (True, False))
    assert problems, f"{_key(loc)} = {value!r} is accepted"
    for key, fix in problems:
        assert_fix_clears(config, key, fix)


@pytest.mark.parametrize(("loc", "context", "values"), LISTED_FIELDS, ids=lambda item: str(item)[:40])
def test_a_listed_field_outside_its_list_gets_a_fix_that_clears_it(
    loc: Loc, context: dict[str, Any], values: list[str]
) -> None:
    for value in values:
        config = copy.deepcopy(BASE)
        for key, part in copy.deepcopy(context).items():
            config[key] = {**config.get(key, {}), **part}
        _set(config, list(loc), value)
        problems = reported(config)
        assert _key(loc) in [key for key, _ in problems], f"{_key(loc)} = {value!r}: {problems}"
        for key, fix in problems:
            assert_fix_clears(config, key, fix)


def known_refused() -> Iterator[dict[str, Any]]:
    """Every config the other tests refuse."""
    yield from (case[0] for case in INVALID.values())
    yield from (case[0] for case in CASES.values())
    yield from (case[0] for case in MEANT.values())
    yield from (case[0] for case in UNKNOWABLE.values())
    yield from MORE


def test_every_fix_for_a_known_mistake_clears_its_error() -> None:
    checked = 0
    for config in known_refused():
        for key, fix in reported(config):
            assert_fix_clears(config, key, fix)
            checked += len(alternatives(fix))
    assert checked > 150


@pytest.mark.parametrize("case", sorted(WARNED))
def test_every_warnings_fix_clears_its_warning(case: str) -> None:
    config, secret = WARNED[case]
    pairs = warned(config, secret)
    assert pairs
    for key, fix in pairs:
        assert_warning_fix_clears(config, secret, key, fix)


def test_a_fix_that_sets_the_refused_value_again_is_caught() -> None:
    """The property itself can fail: the fix the program printed before issue #36 loops."""
    config = {**MINIMAL_DIGITALOCEAN_HOST, "host": {**MINIMAL_DIGITALOCEAN_HOST["host"], "region": "mars1"}}
    assert still_reported(config, "host.region", "pulumi config set --path 'host.region' mars1")
    assert not still_reported(config, "host.region", dict(reported(config))["host.region"])


@pytest.mark.parametrize("typed", ["0\n", '["a\\nb"]', "x\x00"])
def test_a_list_typed_as_text_with_a_control_character_is_asked_for_on_one_line(typed: str) -> None:
    """Found by tests/test_config_fuzz.py on a clean clone: `admins: "0\n"` printed a fix across two lines."""
    config = {**BASE, "admins": typed}
    problems = reported(config)
    assert problems and all("\n" not in fix and "\x00" not in fix for _, fix in problems)
    for key, fix in problems:
        assert_fix_clears(config, key, fix)
