"""MMR's config as a directory of files: what is secret in one, everything else in another.

``REPO_CONFIG`` may name a directory; MMR loads every file in it in name order and
unmarshals each over one map (common/config/access.go lines 69-140 at v1.3.7), so a
top-level section is taken whole from the last file that has it: a section is never split.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from config_schema.media_repo import S3Connection, build_media_repo_config
from config_schema.media_repo_sections import MediaRepoConfig
from config_schema.stack import StackConfig

# The top-level sections that hold a credential: on Kubernetes they go in a Secret, the rest in a ConfigMap.
SECRET_SECTIONS: frozenset[str] = frozenset({"database", "datastores", "sharedSecretAuth"})
# Sorted after the settings file, though no key is in both.
SETTINGS_FILE = "00-settings.yaml"
SECRETS_FILE = "10-secrets.yaml"
# Placeholders for what the settings file never holds: the sections they sit in are dropped.
_NO_SECRET_DSN = "postgres://"
_NO_S3 = S3Connection(endpoint="", bucket_name="", region="", access_key_id="", access_secret="", ssl=True)


def render_sections(config: MediaRepoConfig, *, secret: bool) -> str:
    """The sections that hold a credential (``secret``), or all the others, as one YAML file."""
    document = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    part = {key: value for key, value in document.items() if (key in SECRET_SECTIONS) == secret}
    return yaml.safe_dump(part, sort_keys=False, default_flow_style=False, allow_unicode=True)


def settings_config(
    stack: StackConfig, *, redis_addresses: Sequence[str], use_forwarded_host: bool | None = None
) -> MediaRepoConfig:
    """MMR's config from the stack config alone, placeholders where the credentials go: plain, known at preview,
    and right in every section but the secret ones."""
    return build_media_repo_config(
        stack,
        database_dsn=_NO_SECRET_DSN,
        s3=_NO_S3 if stack.uses_s3 else None,
        redis_container_addresses=redis_addresses,
        use_forwarded_host=use_forwarded_host,
    )


def render_settings(stack: StackConfig, *, redis_addresses: Sequence[str], use_forwarded_host: bool | None) -> str:
    """Every section but the secret ones, from the stack config alone: a plain string, never a secret."""
    config = settings_config(stack, redis_addresses=redis_addresses, use_forwarded_host=use_forwarded_host)
    return render_sections(config, secret=False)
