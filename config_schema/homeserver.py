"""A homeserver MMR serves: its server name, where MMR reaches it, and where clients fetch its media."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from config_schema.common import ConfigModel, bare_host, check_http_url, is_bare_server_name
from config_schema.errors import ConfigError, ask_command
from config_schema.signing_key import as_mmr_key, signing_key_problem

CONVERT_KEY_FIX = (
    "pulumi config set --secret --path '{key}' -- "
    "\"$(pulumi config get --path '{key}' | python3 config_schema/signing_key.py)\""
)


class Homeserver(ConfigModel):
    name: str
    cs_api: str
    # The host clients and federation reach for media (matrix.example.org when example.org delegates);
    # the server name's host by default. Proxies match on it and hand MMR the server name.
    public_host: str | None = None
    backoff_at: int | None = Field(default=None, ge=1)
    admin_api_kind: Literal["synapse", "dendrite", "matrix"] | None = None
    signing_key_path: str | None = None
    # An MMR-format PEM key, set with --secret; uploaded into the container.
    signing_key: str | None = None
    # With neither signingKey nor signingKeyPath, a key is generated and kept in the stack's state;
    # a higher number makes a new one (after `pulumi state unprotect`, docs/operations.md).
    signing_key_rotation: int = Field(default=0, ge=0, le=999)

    @property
    def generates_signing_key(self) -> bool:
        return self.signing_key is None and self.signing_key_path is None

    @property
    def uploads_signing_key(self) -> bool:
        """Whether the program puts a key into MMR's config directory: the one given, or the one it made."""
        return self.signing_key is not None or self.generates_signing_key

    @field_validator("signing_key")
    @classmethod
    def _mmr_key(cls, value: str | None) -> str | None:
        if value is not None and (problem := signing_key_problem(value)):
            if as_mmr_key(value) is not None:
                # Synapse's or Dendrite's form of one key: converted in place, read back and never shown.
                raise ConfigError(
                    "is one key in Synapse's or Dendrite's form, not MMR's: the fix converts it in place",
                    fix=CONVERT_KEY_FIX,
                )
            raise ConfigError(
                f"{problem}; a prompt takes one line and an MMR key has several: pipe its file into the command "
                "below (add < and the file's name)",
                fix=ask_command("{key}", secret=True),
            )
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Homeserver:
        if "signing_key_rotation" in self.model_fields_set and not self.generates_signing_key:
            raise ConfigError(
                "is set, but this homeserver's key is not generated here (signingKey or signingKeyPath is set)",
                key="signingKeyRotation",
                fix="pulumi config rm --path '{parent}.signingKeyRotation'",
            )
        if self.signing_key and self.signing_key_path:
            raise ConfigError(
                "and signingKeyPath are both set: give the key, or the path of a key already in the container",
                key="signingKey",
                fix="pulumi config rm --path '{parent}.signingKeyPath'",
            )
        return self

    @field_validator("name")
    @classmethod
    def _bare_name(cls, value: str) -> str:
        if not is_bare_server_name(value):
            raise ConfigError(
                f"{value!r} must be a bare server name such as example.org (no scheme, no path, no trailing dot): "
                "the one in your users' IDs, which MMR matches against the Host header",
                corrected=bare_host(value),
            )
        if ":" in value:
            # MMR keeps only what precedes the first ':' of the Host header before it looks the name up
            # (api/_routers/03-host_detection.go line 34 at 84bcb70) and keys its domains by the configured
            # name whole (common/config/access.go lines 150-159, 221-223): neither example.org:8448 nor an
            # IPv6 literal can ever match. The port is the reverse proxy's business.
            raise ConfigError(
                f"{value!r} has a ':', and MMR cuts the Host header at its first ':' before matching, so it "
                "would answer every request for this homeserver with 'server name not configured'; give the "
                "name without its port (federation's port is the reverse proxy's and the homeserver's business)",
                corrected=bare_host(value),
            )
        return value

    @field_validator("public_host")
    @classmethod
    def _bare_host(cls, value: str | None) -> str | None:
        if value is not None and (":" in value or not is_bare_server_name(value)):
            raise ConfigError(
                f"{value!r} must be a host name without scheme, port or path: the one in the URLs clients "
                "and federation use for media, such as the homeserver's delegated host",
                corrected=bare_host(value),
            )
        return value

    @property
    def proxied_host(self) -> str:
        """Where a reverse proxy receives this homeserver's media requests."""
        return self.public_host or self.name

    @field_validator("cs_api")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(
            value, "where MMR reaches the homeserver's client-server API", "https://matrix.example.org"
        )

    @field_validator("signing_key_path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ConfigError(f"{value!r} must be an absolute path inside the MMR container")
        return value
