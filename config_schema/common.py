"""What the stack config models share."""

from __future__ import annotations

import ipaddress
import re
from typing import get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from config_schema.errors import ConfigError

# A DNS name (labels of letters, digits and hyphens) or an IP literal, with an optional port.
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class ConfigModel(BaseModel):
    # Keys are read by their camelCase alias only: `cs_api` is an unknown key, reported like any typo.
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=False,
        extra="forbid",
        frozen=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_list_as_typed(cls, value: object, info: ValidationInfo) -> object:
        # `pulumi config set --path KEY '[]'` stores the string "[]": for a list, the meaning is clear.
        if value == "[]" and info.field_name and _is_list(cls.model_fields[info.field_name].annotation):
            return []
        return value


def _is_list(annotation: object) -> bool:
    return get_origin(annotation) is list or any(get_origin(arg) is list for arg in get_args(annotation))


def is_bare_server_name(name: str) -> bool:
    host, _, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        return False
    host = host or name
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
            return True
        except ValueError:
            return False
    return bool(_HOSTNAME.match(host))


def bare_host(value: str) -> str | None:
    """The host name ``value`` certainly means, typed with a scheme, a path, a port or a trailing dot; else None.

    Only what the typing adds around a name is taken off: the name itself is never changed, and an IPv6
    literal (which MMR cannot match, it cuts the Host header at its first ':') has no such host.
    """
    text = value.strip()
    text = urlsplit(text).netloc.rpartition("@")[2] if "://" in text else text.split("/")[0]
    if text.count(":") == 1 and text.rpartition(":")[2].isdigit():
        text = text.rpartition(":")[0]
    text = text.removesuffix(".")
    if text == value or ":" in text or not is_bare_server_name(text):
        return None
    return text


def check_http_url(value: str, purpose: str, example: str) -> str:
    """An http(s) URL with a host, for ``purpose``; returned without a trailing slash. ``example`` is shown."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{value!r} must be an http(s) URL {purpose}, such as {example}")
    return value.rstrip("/")
