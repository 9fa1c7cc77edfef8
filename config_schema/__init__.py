"""Pure models of the stack config and of MMR's config: validation and rendering, no Pulumi resources."""

from config_schema.dsn import build_postgres_dsn, dsn_has_sslmode, dsn_host
from config_schema.errors import StackConfigError
from config_schema.images import DEFAULT_IMAGE
from config_schema.loading import load_stack_config, plaintext_secret_warnings
from config_schema.media_repo import MEDIA_PATH, S3Connection, build_media_repo_config, render_media_repo_config
from config_schema.media_repo_sections import MediaRepoConfig
from config_schema.stack import StackConfig
from config_schema.storage import ALL_MEDIA_KINDS

__all__ = [
    "ALL_MEDIA_KINDS",
    "DEFAULT_IMAGE",
    "MEDIA_PATH",
    "MediaRepoConfig",
    "S3Connection",
    "StackConfig",
    "StackConfigError",
    "build_media_repo_config",
    "build_postgres_dsn",
    "dsn_has_sslmode",
    "dsn_host",
    "load_stack_config",
    "plaintext_secret_warnings",
    "render_media_repo_config",
]
