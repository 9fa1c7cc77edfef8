"""Config changes MMR takes without a restart, and how the program knows MMR serves the new config.

MMR watches ``REPO_CONFIG`` with fsnotify and re-applies the config a second after a change
(matrix-media-repo v1.3.8 ``common/config/watch.go`` lines 13-45): homeservers, admins, timeouts, downloads,
thumbnails, uploads, the datastores, the database pool (reconnected), Redis's shards, the listener (remounted
when its address changes) and the access-token cache are all re-applied (lines 47-131). Read only at start,
and so a restart: the log settings (line 96 compares ``logDirectory`` alone and only warns; the level,
colours and JSON form are set once, ``cmd/workers/media_repo/main.go`` lines 65-70), ``redis.databaseNumber``
(the shard comparison at lines 134-150 ignores it), the rate limits (read when the web server starts,
``api/webserver.go`` lines 35-37), Sentry (``main.go`` line 47) and ``MACHINE_ID`` (the environment).
``restart_fingerprint`` is what, of what the program renders, needs a restart; the container is labelled
with it and so replaced exactly when it changes.

``REPO_CONFIG`` names a directory: a single watched file replaced by a rename loses fsnotify's watch (the
inode it watched is gone), a watched directory does not; MMR reads every file in it, in name order
(``common/config/access.go`` lines 62-133), so a file is installed by a rename from outside the directory and
MMR never reads half of one.

**Knowing MMR took it.** The rendered config carries one more server name, ``<version>.config-version.invalid``
(RFC 6761: ``.invalid`` never resolves), where ``<version>`` is an HMAC of the rest of the config under a
key of the stack's own (the config holds credentials: a plain hash of it could be tried against guesses).
MMR answers a request only for a server name its current config lists (``api/_routers/03-host_detection.go``
lines 53-70: 502 otherwise), so a lookup of a missing media id on that name answers 404 exactly once MMR
serves this config and its database answers. ``pulumi up`` waits for that (``applied_script``, run by
components/docker/config_applied.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from config_schema.health import PROBE_CLIENT_ADDRESS, PROBE_MEDIA_ID
from config_schema.media_repo_sections import HomeserverEntry, MediaRepoConfig

CONFIG_VERSION_DOMAIN = "config-version.invalid"
# An address nothing listens on: MMR calls a homeserver's csApi only for a request that names that server with
# an access token, which no one sends to the version's name.
_NOWHERE = "http://127.0.0.1:9"


def config_version(key: str, rendered: str) -> str:
    """The config's version: an HMAC-SHA256 of the rendered YAML under the stack's own key, 16 hex digits."""
    return hmac.new(key.encode(), rendered.encode(), hashlib.sha256).hexdigest()[:16]


def version_host(version: str) -> str:
    return f"{version}.{CONFIG_VERSION_DOMAIN}"


def with_config_version(config: MediaRepoConfig, version: str) -> MediaRepoConfig:
    """The config, with the server name that says which version MMR serves."""
    marker = HomeserverEntry(name=version_host(version), cs_api=_NOWHERE)
    return config.model_copy(update={"homeservers": [*config.homeservers, marker]})


def restart_fingerprint(config: MediaRepoConfig) -> str:
    """A digest of what MMR reads only when it starts, of what the program renders; no credential is in it."""
    repo = config.repo
    needs_restart = {
        "logs": [repo.log_directory, repo.log_colors, repo.json_logs, repo.log_level],
        "redisDatabaseNumber": config.redis.database_number if config.redis else None,
    }
    return hashlib.sha256(json.dumps(needs_restart, sort_keys=True).encode()).hexdigest()[:16]


# How long `pulumi up` waits for MMR to serve a new config: its watch waits a second, then re-applies every
# part (the datastores included, which reach the database); a restarted MMR first runs its migrations.
APPLIED_SECONDS = 900


def applied_script(mmr_host: str, port: int, version: str) -> str:
    """A one-shot's shell (busybox in MMR's image): waits until MMR at ``mmr_host:port`` serves the config of
    ``version``; prints how long it took, or fails with MMR's last answer."""
    host = version_host(version)
    url = f"http://{mmr_host}:{port}/_matrix/media/v3/download/{host}/{PROBE_MEDIA_ID}?allow_remote=false"
    return "\n".join(
        [
            "start=$(date +%s)",
            "while :; do",
            f"  answer=$(timeout 5 wget -q -O /dev/null --header 'Host: {host}' "
            f"--header 'X-Forwarded-For: {PROBE_CLIENT_ADDRESS}' '{url}' 2>&1)",
            '  case "$answer" in',
            "  *'HTTP/1.'?' 404'*)",
            f'    echo "MMR serves config version {version} ($(( $(date +%s) - start )) s after it was installed)"',
            "    exit 0 ;;",
            "  esac",
            f"  if [ $(( $(date +%s) - start )) -ge {APPLIED_SECONDS} ]; then",
            f'    echo "MMR did not take config version {version} within {APPLIED_SECONDS} s; its last answer: '
            '${answer:-none} (502: the config is not live yet; see docker logs for \\"Error reloading '
            'configuration\\")" >&2',
            "    exit 1",
            "  fi",
            "  sleep 1",
            "done",
        ]
    )
