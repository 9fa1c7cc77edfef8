"""Settings that only mean something where MMR runs on a Docker host."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from config_schema.common import ConfigModel
from config_schema.errors import ConfigError

# The characters Docker allows in object names (moby daemon/names/names.go:6 at v20.10.24); Compose's
# default networks (`synapse_default`) fit.
_NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class DockerHost(ConfigModel):
    # Existing Docker networks that MMR and the importer join, so that names such as `synapse` or
    # `synapse-postgres` resolve: typically the network of the homeserver's Compose project.
    networks: list[str] = Field(default_factory=list)

    @field_validator("networks")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for index, network in enumerate(value):
            if not _NETWORK_NAME.match(network):
                raise ConfigError(
                    f"{network!r} is not a Docker network name "
                    "(see `docker network ls`; letters, digits, '_', '.' and '-')",
                    key=f"[{index}]",
                    # The example network, unless the list has it already: then the item is best removed.
                    example=None if "synapse_default" in value else "synapse_default",
                    fix=f"pulumi config rm --path 'docker.networks[{index}]'" if "synapse_default" in value else None,
                )
            if network in value[:index]:
                raise ConfigError(
                    f"lists {network!r} again (also docker.networks[{value.index(network)}])",
                    key=f"[{index}]",
                    fix=f"pulumi config rm --path 'docker.networks[{index}]'",
                )
        return value
