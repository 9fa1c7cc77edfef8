"""The ``federation.*`` keys: servers MMR never fetches from, and the addresses it may fetch remote media from.

MMR v1.3.8 (ed4f318) guards every connection it makes for federation against server-side request forgery:
a remote server's name, or a redirect it answers with, could lead MMR to an address on its own network (a
database, a cloud metadata service, an admin API on loopback). ``matrix/http.go`` checks each connection's
resolved address in ``safeControl`` (lines 113-133): ``isAllowed`` (lines 135-154) refuses an address in
``disallowedNetworks`` first, then allows only one in ``allowedNetworks``. The client that does so serves every
federation request (``matrix/requests.go`` lines 127-134: remote media, other servers' signing keys) and the
redirects of a remote download (``pipelines/_steps/download/try_download.go`` lines 198-204). It does not
serve ``homeservers[].csApi``, which the operator chose (``matrix/requests.go`` lines 49-51): a homeserver on a
private address is reached as before.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Protocol

from pydantic import Field, field_validator

from config_schema.common import ConfigModel, bare_host, is_bare_server_name
from config_schema.errors import PROJECT, ConfigError, rm_command, set_command

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# MMR's defaults (common/config/conf_main.go lines 136-155 at ed4f318): loopback, RFC 1918, carrier-grade NAT,
# link-local and IPv6 unique-local refused; every IPv4 address allowed. Go's IPNet.Contains matches an address
# only of its own length, so 0.0.0.0/0 holds no IPv6 address: by default MMR federates over IPv4 alone.
DEFAULT_DISALLOWED_NETWORKS: tuple[str, ...] = (
    "127.0.0.1/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "::1/128",
    "fe80::/64",
    "fc00::/7",
)
DEFAULT_ALLOWED_NETWORKS: tuple[str, ...] = ("0.0.0.0/0",)
# Go's net.ParseCIDR form: an address, '/', a decimal prefix length; no netmask, no zone.
_CIDR = re.compile(r"^[0-9A-Fa-f.:]+/[0-9]{1,3}$")
# RFC 6761 section 6.3: these names are loopback wherever they are resolved.
_LOCALHOST = re.compile(r"^(.+\.)?localhost\.?$", re.IGNORECASE)


def go_cidr(text: str) -> IpNetwork | None:
    """The range ``text`` names as Go's net.ParseCIDR reads it (host bits allowed, as in 127.0.0.1/8); else None."""
    if not _CIDR.match(text):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _check_networks(value: list[str], default: Sequence[str]) -> list[str]:
    for index, text in enumerate(value):
        if go_cidr(text) is not None:
            continue
        # MMR stops reading a list at an entry net.ParseCIDR refuses (matrix/http.go lines 156-164): every
        # range after it would go unchecked.
        problem = (
            f"{text!r} is not a CIDR range such as 10.0.0.0/8 or fc00::/7: MMR stops reading the list at an entry "
            "it cannot parse, so the ranges after it would not count"
        )
        raise ConfigError(problem, key=f"[{index}]", fix=_cidr_fix(text, len(value), default))
    return value


def _cidr_fix(text: str, entries: int, default: Sequence[str]) -> str:
    """The entry corrected where that is certain; else it goes (the whole list, MMR's default, if it is the only)."""
    if go_cidr(text.strip()) is not None:
        return set_command("{key}", text.strip())
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return rm_command("{key}") if entries > 1 else rm_command("{parent}")
    return set_command("{key}", f"{address}/{address.max_prefixlen}")


class Federation(ConfigModel):
    ignored_hosts: list[str] = Field(default_factory=list)
    # Rendered only when set: MMR's own defaults are these.
    disallowed_networks: list[str] = Field(default_factory=lambda: list(DEFAULT_DISALLOWED_NETWORKS))
    allowed_networks: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOWED_NETWORKS))

    @field_validator("ignored_hosts")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for index, host in enumerate(value):
            if not is_bare_server_name(host):
                raise ConfigError(
                    f"{host!r} must be a server name such as spam.example", key=f"[{index}]", corrected=bare_host(host)
                )
        return value

    @field_validator("disallowed_networks")
    @classmethod
    def _disallowed(cls, value: list[str]) -> list[str]:
        return _check_networks(value, DEFAULT_DISALLOWED_NETWORKS)

    @field_validator("allowed_networks")
    @classmethod
    def _allowed(cls, value: list[str]) -> list[str]:
        if not value:
            # An empty list is not MMR's default (that is only for a missing one, matrix/http.go lines 35-37):
            # every federation connection would be refused.
            raise ConfigError(
                "is empty, so MMR would refuse every federation request: no remote media, no other server's keys",
                fix=rm_command("federation.allowedNetworks"),
            )
        return _check_networks(value, DEFAULT_ALLOWED_NETWORKS)

    @property
    def networks_set(self) -> bool:
        return bool({"disallowed_networks", "allowed_networks"} & self.model_fields_set)


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, federation: Federation) -> str | None:
    """Why MMR refuses to connect to ``address`` (the disallowedNetworks entry, or the allow list); None if it does not.

    As MMR decides (matrix/http.go lines 28-32 and 135-154): the deny list first, with 0.0.0.0/32 and ::/128
    always added, then the allow list; an address is compared only with ranges of its own IP version.
    """
    for text in [*federation.disallowed_networks, "0.0.0.0/32", "::/128"]:
        network = go_cidr(text)
        if network is not None and network.version == address.version and address in network:
            return f"{text} in federation.disallowedNetworks"
    allowed = (go_cidr(text) for text in federation.allowed_networks)
    if any(n is not None and n.version == address.version and address in n for n in allowed):
        return None
    return "outside federation.allowedNetworks"


class NamedHost(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def public_host(self) -> str | None: ...


def federation_warnings(federation: Federation, homeservers: Sequence[NamedHost]) -> list[str]:
    """What MMR's SSRF guard undoes: an allowed range it refuses anyway, a homeserver that federates privately."""
    warnings = []
    shadowed = _shadowed_allowed(federation)
    if shadowed:
        listed = ", ".join(f"federation.allowedNetworks[{index}] {text}" for index, text, _ in shadowed)
        refusing = ", ".join(sorted({text for _, _, text in shadowed}))
        warnings.append(
            f"{PROJECT}:{listed} lies within federation.disallowedNetworks ({refusing}), which MMR checks first: "
            f"it still refuses those addresses. Fix: {_carve_command(federation, [text for _, text, _ in shadowed])}"
        )
    for index, homeserver in enumerate(homeservers):
        for key, host in (("name", homeserver.name), ("publicHost", homeserver.public_host)):
            address = _literal_address(host or "")
            # A server named by a private address federates with servers that reach it there, on the same
            # network; one on loopback (localhost) federates with none.
            if address is None or address.is_loopback or not (refused := refusal(address, federation)):
                continue
            warnings.append(
                f"{PROJECT}:homeservers[{index}].{key} is {host}, an address MMR's federation client refuses "
                f"({refused}): servers that federate with it there are refused too, and MMR would fetch none of "
                "their media; take their range out of federation.disallowedNetworks, which MMR checks first "
                "(docs/configuration.md, Federation and private addresses)"
            )
    return warnings


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host is without a lookup: an IP literal, or a localhost name (loopback by RFC 6761)."""
    if _LOCALHOST.match(host):
        return ipaddress.ip_address("127.0.0.1")
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _shadowed_allowed(federation: Federation) -> list[tuple[int, str, str]]:
    """(index, entry, refusing entry) of each allowedNetworks range wholly inside one disallowedNetworks refuses."""
    shadowed = []
    for index, text in enumerate(federation.allowed_networks):
        allowed = go_cidr(text)
        refusing = next((d for d in federation.disallowed_networks if _within(allowed, go_cidr(d))), None)
        if refusing is not None:
            shadowed.append((index, text, refusing))
    return shadowed


def _within(inner: IpNetwork | None, outer: IpNetwork | None) -> bool:
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def _without(network: IpNetwork, hole: IpNetwork | None) -> list[IpNetwork]:
    """``network`` less ``hole``, in the fewest ranges; ``network`` itself when the hole is not inside it."""
    if (
        isinstance(network, ipaddress.IPv4Network)
        and isinstance(hole, ipaddress.IPv4Network)
        and _within(hole, network)
    ):
        return sorted(network.address_exclude(hole))
    if (
        isinstance(network, ipaddress.IPv6Network)
        and isinstance(hole, ipaddress.IPv6Network)
        and _within(hole, network)
    ):
        return sorted(network.address_exclude(hole))
    return [network]


def _carve_command(federation: Federation, allowed: list[str]) -> str:
    """Commands that set disallowedNetworks to what it refuses now, less the ``allowed`` ranges."""
    carved: list[str] = []
    for text in federation.disallowed_networks:
        denied = go_cidr(text)
        pieces: list[IpNetwork] = [denied] if denied else []
        for hole in allowed:
            pieces = [rest for piece in pieces for rest in _without(piece, go_cidr(hole))]
        carved += [text] if pieces == [denied] else [str(piece) for piece in pieces]
    key = "federation.disallowedNetworks"
    if not carved:
        # `--path KEY '[]'` stores the text "[]", which the program reads as an empty list (common.py).
        return set_command(key, "'[]'")
    return " && ".join([rm_command(key), *(set_command(f"{key}[{index}]", text) for index, text in enumerate(carved))])
