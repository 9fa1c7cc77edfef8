"""federation.disallowedNetworks / allowedNetworks: MMR v1.3.8's guard against being led to its own network.

Read at ed4f318 (the v1.3.8 Go module): matrix/http.go checks every federation connection's address against
the deny list, then the allow list; common/config/conf_main.go lines 136-155 hold the defaults.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
import yaml

from config_schema import StackConfigError, build_media_repo_config, load_stack_config, render_media_repo_config
from config_schema.federation import DEFAULT_ALLOWED_NETWORKS, DEFAULT_DISALLOWED_NETWORKS, refusal
from config_schema.loading import advisory_warnings
from tests.pulumi_cli import run_shell, stack_from_program_view
from tests.upstream_keys import UPSTREAM, upstream_types, upstream_violations

HOMESERVER = {"name": "example.org", "csApi": "http://synapse:8008"}


def stack_with(federation: Any, homeserver: dict[str, str] = HOMESERVER) -> dict[str, Any]:
    return {"homeservers": [homeserver], "federation": federation}


def rendered(config: dict[str, Any]) -> dict[str, Any]:
    stack = load_stack_config(config)
    document = yaml.safe_load(render_media_repo_config(build_media_repo_config(stack, database_dsn="postgres://x")))
    assert upstream_violations(document) == []
    return document


def problem(config: dict[str, Any]) -> tuple[str, str, str]:
    """(key, problem, fix) of the one problem the program reports."""
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(config)
    match = re.fullmatch(r"Invalid stack config: matrix-media-repo:(\S+) (.*)\. Fix: (.*)", str(caught.value))
    assert match, str(caught.value)
    return match.group(1), match.group(2), match.group(3)


def after(config: dict[str, Any], command: str) -> dict[str, Any]:
    """The program's view of the stack once ``command`` ran as printed, in bash, against the stand-in CLI."""
    stack, _ = run_shell(stack_from_program_view(config), command)
    return stack.program_view()[0]


def test_the_checks_read_the_v1_3_8_key_list_and_its_defaults() -> None:
    types = upstream_types()
    assert types["federation.disallowedNetworks[]"] == types["federation.allowedNetworks[]"] == "[]string"
    sample = yaml.safe_load((UPSTREAM / "config.sample.v1.3.8.yaml").read_text())["federation"]
    assert list(DEFAULT_DISALLOWED_NETWORKS) == sample["disallowedNetworks"]
    assert list(DEFAULT_ALLOWED_NETWORKS) == sample["allowedNetworks"]


def test_rendered_only_when_set() -> None:
    assert "federation" not in rendered(stack_with({}))
    assert rendered(stack_with({"ignoredHosts": ["spam.example"]}))["federation"] == {"ignoredHosts": ["spam.example"]}
    lan = ["127.0.0.1/8", "10.0.0.0/8"]
    assert rendered(stack_with({"disallowedNetworks": lan}))["federation"] == {"disallowedNetworks": lan}
    both = {"allowedNetworks": ["0.0.0.0/0", "::/0"], "disallowedNetworks": "[]"}
    # `--path KEY '[]'` stores the text "[]": the guard turned off, which MMR reads as an empty list.
    assert rendered(stack_with(both))["federation"] == {
        "disallowedNetworks": [],
        "allowedNetworks": ["0.0.0.0/0", "::/0"],
    }


@pytest.mark.parametrize(
    ("entries", "key", "fixed"),
    [
        (["10.0.0.0/8", "192.168.1.7"], "federation.disallowedNetworks[1]", ["10.0.0.0/8", "192.168.1.7/32"]),
        (["fd00::1"], "federation.disallowedNetworks[0]", ["fd00::1/128"]),
        ([" 10.0.0.0/8"], "federation.disallowedNetworks[0]", ["10.0.0.0/8"]),
        # Nothing to correct with certainty: the entry goes, or the whole list (back to MMR's) if it was alone.
        (["10.0.0.0/8", "lan"], "federation.disallowedNetworks[1]", ["10.0.0.0/8"]),
        (["10.0.0.0/255.0.0.0"], "federation.disallowedNetworks[0]", None),
    ],
)
def test_an_entry_go_cannot_parse_is_refused_and_the_fix_keeps_what_was_meant(
    entries: list[str], key: str, fixed: list[str] | None
) -> None:
    config = stack_with({"disallowedNetworks": entries})
    reported, message, fix = problem(config)
    assert reported == key and "is not a CIDR range" in message
    view = after(config, fix)
    assert view["federation"].get("disallowedNetworks") == fixed
    load_stack_config(view)


def test_an_empty_allow_list_is_refused_and_removed() -> None:
    config = stack_with({"allowedNetworks": "[]"})
    key, message, fix = problem(config)
    assert key == "federation.allowedNetworks" and "refuse every federation request" in message
    assert "allowedNetworks" not in after(config, fix)["federation"]


def test_refusal_decides_as_mmr_does() -> None:
    stack = load_stack_config(stack_with({}))
    for address, why in [
        ("10.1.2.3", "10.0.0.0/8 in federation.disallowedNetworks"),
        ("127.0.0.53", "127.0.0.1/8 in federation.disallowedNetworks"),
        ("0.0.0.0", "0.0.0.0/32 in federation.disallowedNetworks"),
        ("fd12::1", "fc00::/7 in federation.disallowedNetworks"),
        # Go's 0.0.0.0/0 holds no IPv6 address: a public IPv6 remote is refused by default.
        ("2001:db8::1", "outside federation.allowedNetworks"),
        ("198.51.100.7", None),
    ]:
        assert refusal(ipaddress.ip_address(address), stack.federation) == why, address


def test_an_allowed_range_the_deny_list_refuses_is_warned_about_and_carved_out() -> None:
    config = stack_with({"allowedNetworks": ["0.0.0.0/0", "10.0.5.0/24"]})
    (warning,) = advisory_warnings(load_stack_config(config))
    assert warning.startswith("matrix-media-repo:federation.allowedNetworks[1] 10.0.5.0/24 lies within ")
    view = after(config, warning.split(". Fix: ", 1)[1])
    stack = load_stack_config(view)
    assert advisory_warnings(stack) == []
    assert refusal(ipaddress.ip_address("10.0.5.9"), stack.federation) is None
    for still in ("10.0.4.255", "10.0.6.0", "10.200.0.1", "127.0.0.1", "192.168.0.1", "fd00::1"):
        assert refusal(ipaddress.ip_address(still), stack.federation), still


def test_a_homeserver_named_by_a_private_address_is_warned_about_but_csapi_is_not_checked() -> None:
    lan = {"name": "192.168.1.10", "csApi": "http://192.168.1.10:8008"}
    (warning,) = advisory_warnings(load_stack_config(stack_with({}, lan)))
    assert warning.startswith("matrix-media-repo:homeservers[0].name is 192.168.1.10, an address MMR's federation")
    assert advisory_warnings(load_stack_config(stack_with({"disallowedNetworks": ["10.0.0.0/8"]}, lan))) == []
    # MMR reaches csApi with a client of its own, without the guard (matrix/requests.go lines 49-51).
    for cs_api in ("http://172.17.0.1:8008", "http://127.0.0.1:8008", "http://[fd00::2]:8008"):
        assert advisory_warnings(load_stack_config(stack_with({}, {**HOMESERVER, "csApi": cs_api}))) == []
    # A server named localhost federates with no one.
    assert advisory_warnings(load_stack_config(stack_with({}, {"name": "localhost", "csApi": "http://hs:8008"}))) == []
