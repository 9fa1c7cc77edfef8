"""What every container on the Docker host gets: rotated logs, a memory limit without swap, and MMR's watchdog.

The docker provider passes ``log_driver`` and ``log_opts`` into the container's LogConfig
(terraform-provider-docker ``internal/provider/resource_docker_container_funcs.go`` lines
261-262 and 387-388 at v4.5.0-5-g83c00e0b), and ``memory`` and ``memory_swap`` in MiB into
HostConfig.Memory and MemorySwap (lines 334-347). MemorySwap equal to Memory means no swap
on top: a container at its limit is killed rather than left to swap the host to a crawl.
Both log settings force a replacement; the memory settings are updated in place (line 1017).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi_docker as docker

from components.docker.engine_api import healthcheck_start_interval
from config_schema.docker_host import DockerHost, Watchdog
from config_schema.health import LIVENESS_SECONDS, liveness_command

# One-shot containers: a shell that installs files, psql running one GRANT.
ONE_SHOT_MIB = 128
# Where the watchdog keeps its count: MMR's scratch volume, the one place it may write (the /data tmpfs
# takes its image directory's root ownership, whatever its mode option says).
_STATE = "/tmp/.mmr-watchdog"
# Failed checks in a row before Docker reports MMR unhealthy.
HEALTH_RETRIES = 2


def bounded(host: DockerHost, memory_mib: int) -> dict[str, Any]:
    """The keyword arguments of ``docker.Container`` that bound a container's logs and memory."""
    return {
        "log_driver": host.logs.driver,
        "log_opts": host.logs.options(),
        "memory": memory_mib,
        "memory_swap": memory_mib,
    }


def watchdog_script(port: int, watchdog: Watchdog, readiness: Sequence[str] = ()) -> str:
    """MMR's health check: liveness (MMR answers ``/healthz``), then readiness (it can serve media:
    ``readiness``, lines from config_schema/health.py); the watchdog acts on liveness alone.

    Docker's restart policy acts only when a container exits (moby restartmanager/restartmanager.go,
    ShouldRestart(exitCode, hasBeenManuallyStopped, executionDuration)): an unhealthy container that
    still runs is left as it is. So after ``failures`` failed liveness checks in a row this check stops MMR
    itself (SIGTERM, then SIGKILL at the next failure), and ``restart: unless-stopped`` starts it
    again. It runs inside the container as MMR's user: no Docker socket, no new privilege. MMR runs
    under Docker's init (``init: true``) so that it is not PID 1, which the kernel shields from
    signals sent from inside its namespace. A check counts only after MMR answered once since it
    started: a first boot that is still migrating is never stopped (Docker's start period covers
    its health status meanwhile). A failed readiness check (Postgres or Redis unreachable) makes the
    container unhealthy and never restarts it: a restart cannot bring a database back, and reruns every
    migration.
    """
    state = f"{_STATE}.$start"
    lines = [
        # This start's own count: keyed by when PID 1 started (field 22 of /proc/1/stat), so that a
        # restarted MMR starts from nothing; what earlier starts left is removed.
        'read -r _ rest < /proc/1/stat; set -- ${rest##*) }; start="${20}"',
        f'for old in {_STATE}.*; do case "$old" in {state}.*) ;; *) rm -f "$old" ;; esac; done',
        # Its own time limit below Docker's, so that a check that hangs is still counted (busybox's `timeout`;
        # not `wget -T`, which Debian's busybox 1.35 crashes on).
        f"if {liveness_command(port)}; then",
        f"  : > {state}.answered; rm -f {state}.failures",
        "else",
        "  echo 'not alive: /healthz did not answer' >&2",
    ]
    if watchdog.enabled:
        lines += [
            f"  [ -e {state}.answered ] || exit 1",
            f"  failures=$(( $(cat {state}.failures 2>/dev/null || echo 0) + 1 ))",
            f'  echo "$failures" > {state}.failures',
            f'  [ "$failures" -ge {watchdog.failures} ] || exit 1',
            f'  signal=TERM; [ "$failures" -gt {watchdog.failures} ] && signal=KILL',
            # To the container's own output, where `docker logs` shows it: PID 1 is init, running as MMR's user.
            '  echo "watchdog: /healthz failed $failures checks in a row; sending SIG$signal to MMR so that Docker '
            'restarts it" > /proc/1/fd/2',
            # MMR is init's child: every process whose parent is PID 1 (a check's own parent is outside).
            "  for stat in /proc/[0-9]*/stat; do",
            '    read -r pid rest < "$stat" || continue',
            '    set -- ${rest##*) }; [ "$2" = 1 ] && kill -s "$signal" "$pid"',
            "  done",
        ]
    lines += ["  exit 1", "fi", *readiness, "exit 0"]
    return "\n".join(lines)


def media_repo_healthcheck(
    port: int, watchdog: Watchdog, start_period: str, readiness: Sequence[str] = (), readiness_seconds: int = 0
) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        # /healthz is the one path MMR answers whatever the Host header; the readiness lines send the server's.
        tests=["CMD", "/bin/sh", "-c", watchdog_script(port, watchdog, readiness)],
        # Written as Go's time.Duration.String() prints them, which is how the provider reads
        # them back (resource_docker_container_funcs.go lines 961-969): "120s" would drift.
        interval=_go_duration(watchdog.interval_seconds),
        # Longer than every step's own limit together (config_schema/health.py), so that Docker never kills a
        # check before it counted a failure.
        timeout=_go_duration(LIVENESS_SECONDS + readiness_seconds + 2),
        # Unhealthy after two failed checks in a row: within two intervals of Postgres stopping.
        retries=HEALTH_RETRIES,
        # Migrations run at every start before MMR listens; after an upgrade that took
        # about 8 minutes in upstream issue #475.
        start_period=start_period,
        # Checks every 2 s until the first success, so `wait` returns soon after MMR listens; left out
        # for an engine older than API 1.44, which refuses it (components/docker/engine_api.py).
        start_interval=healthcheck_start_interval(2),
    )


def _go_duration(seconds: int) -> str:
    """Go's time.Duration.String(): 90 -> "1m30s", 30 -> "30s", 3600 -> "1h0m0s"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
