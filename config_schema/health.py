"""What says MMR can serve media: the readiness probe, rendered as a script for MMR's own image (busybox sh, wget,
nc and timeout, as in alpine, which MMR's image is built on).

``/healthz`` cannot say it: it is a constant answer that touches neither Postgres, Redis nor a datastore
(matrix-media-repo v1.3.8 ``api/custom/health.go`` lines 16-23). It stays the liveness signal: MMR's HTTP server
answers. Readiness asks two more things, each the way MMR itself depends on it:

- **Postgres.** A download of a media id that cannot exist (``readiness-probe``: MMR and Synapse make ids of
  letters and digits only), on the server's own name with ``allow_remote=false``. MMR looks the id up in its
  restrictions, media and expiring-media tables (``pipelines/pipeline_download/pipeline.go`` lines 45-76,
  ``pipelines/_steps/download/wait.go`` lines 10-18) and answers 404 when the database answered, 500 when it did
  not (``api/r0/download.go`` lines 91-119). It reads no datastore and fetches nothing remote.
- **Redis, where MMR uses it.** A PING to each shard; ready while a majority answers. MMR writes each cache entry
  to every live shard (``redislib/cache.go`` lines 21-75) and takes its upload locks with redsync, whose mutex
  needs a quorum of shards (``redislib/locking.go`` lines 9-19), so one of three shards lost is no outage, and
  losing the only one is (upstream #350).

Every request carries ``X-Forwarded-For: 127.0.0.254``: MMR's rate limiter buckets clients by that header first
(``limits/rate_limiting.go`` line 19), so the probe has a bucket of its own and is never answered 429 because a
reverse proxy on the same address is busy. It sends no ``Authorization`` header, which would make MMR ask the
homeserver. This module is pure: no Pulumi.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from config_schema.operations import Redis

# A media id neither MMR nor Synapse ever makes (theirs are letters and digits): a lookup always misses.
PROBE_MEDIA_ID = "readiness-probe"
# The rate limiter's key for the probe's requests (limits/rate_limiting.go line 19 at v1.3.8).
PROBE_CLIENT_ADDRESS = "127.0.0.254"
# Each step's own limit; the check's whole timeout is longer than their sum (``readiness_seconds``), so that a
# hung step is counted, never cut off.
LIVENESS_SECONDS = 4
DATABASE_SECONDS = 3
REDIS_SECONDS = 1


def probe_path(server_name: str) -> str:
    return f"/_matrix/media/v3/download/{server_name}/{PROBE_MEDIA_ID}?allow_remote=false"


def probe_url(port: int, server_name: str) -> str:
    return f"http://127.0.0.1:{port}{probe_path(server_name)}"


def external_probe(endpoint: str, server_name: str) -> dict[str, object]:
    """The readiness check's database half for monitoring outside the host (the stack output ``readinessProbe``):
    the status that means ready is 404, the id's lookup answered; 500 means MMR cannot reach its database."""
    return {
        "url": f"{endpoint}{probe_path(server_name)}",
        "headers": {"Host": server_name, "X-Forwarded-For": PROBE_CLIENT_ADDRESS},
        "readyStatus": 404,
        "curl": (
            f"curl -s -o /dev/null -w '%{{http_code}}\\n' -H {shlex.quote(f'Host: {server_name}')} "
            f"-H 'X-Forwarded-For: {PROBE_CLIENT_ADDRESS}' {shlex.quote(endpoint + probe_path(server_name))}"
        ),
    }


def liveness_command(port: int) -> str:
    """Whether MMR's HTTP server answers at all: ``/healthz``, which every Host gets."""
    return (
        f"timeout {LIVENESS_SECONDS} wget -q -O /dev/null --header 'X-Forwarded-For: {PROBE_CLIENT_ADDRESS}' "
        f"http://127.0.0.1:{port}/healthz"
    )


def readiness_lines(port: int, server_name: str, redis_addresses: Sequence[str]) -> list[str]:
    """Shell lines that ``exit 1`` with one line on stderr when MMR cannot serve media; they fall through when
    it can. ``server_name``: one the config serves (MMR answers only those, api/_routers/03-host_detection.go)."""
    url = shlex.quote(probe_url(port, server_name))
    lines = [
        f"answer=$(timeout {DATABASE_SECONDS} wget -q -O /dev/null --header {shlex.quote(f'Host: {server_name}')} "
        f"--header 'X-Forwarded-For: {PROBE_CLIENT_ADDRESS}' {url} 2>&1)",
        'case "$answer" in',
        "  *'HTTP/1.'?' 404'*) ;;",
        f'  *) echo "not ready: a lookup of a missing media id did not get 404 within {DATABASE_SECONDS} s, so '
        'MMR cannot reach its database: ${answer:-no answer}" >&2; exit 1 ;;',
        "esac",
    ]
    if redis_addresses:
        total = len(redis_addresses)
        needed = total // 2 + 1
        lines += [
            "answered=0",
            f"for shard in {' '.join(shlex.quote(address) for address in redis_addresses)}; do",
            # QUIT makes Redis close the connection, so nc ends as soon as it answered.
            f'  if printf \'PING\\r\\nQUIT\\r\\n\' | timeout {REDIS_SECONDS} nc "${{shard%:*}}" "${{shard##*:}}" '
            "2>/dev/null | grep -q PONG; then answered=$((answered + 1)); fi",
            "done",
            f'if [ "$answered" -lt {needed} ]; then',
            f'  echo "not ready: $answered of {total} Redis shards answered; MMR needs {needed}" >&2; exit 1',
            "fi",
        ]
    return lines


def readiness_script(port: int, server_name: str, redis_addresses: Sequence[str]) -> str:
    """The whole readiness check, for a Kubernetes exec probe: MMR answers, and can serve media."""
    return "\n".join(
        [
            f"{liveness_command(port)} || {{ echo 'not ready: /healthz did not answer' >&2; exit 1; }}",
            *readiness_lines(port, server_name, redis_addresses),
            "exit 0",
        ]
    )


def readiness_seconds(redis_addresses: Sequence[str]) -> int:
    """The longest the readiness lines can take (the liveness check's LIVENESS_SECONDS not counted)."""
    return DATABASE_SECONDS + REDIS_SECONDS * len(redis_addresses)


def redis_addresses(redis: Redis, own: Sequence[str]) -> list[str]:
    """The Redis servers MMR uses: the stack's ``redis.shards``, or those the program starts (``own``); none
    without Redis."""
    if not redis.enabled:
        return []
    return [shard.addr for shard in redis.shards] or list(own)
