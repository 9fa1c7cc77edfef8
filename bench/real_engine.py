"""What an operator waits for, and what clients see, on the real-engine tier (issue #26).

    python bench/real_engine.py [--json PATH] [--no-op-runs N]

On the tier's own Debian dockerd, with the real Pulumi CLI and language host and the real MMR v1.3.8 (the
same set-up as ``tests/test_real_pulumi.py``, whose provider plugins are this project's: see its docstring):

1. **First ``pulumi up``** of the dev stack as committed (``pulumi stack init dev`` then ``pulumi up``): images
   inspected, volumes, networks, Postgres and its backup, the setup one-shot, MMR, the smoke test.
2. **A no-op ``pulumi up``**, ``--no-op-runs`` times (median shown).
3. **A changed setting's effect on service**: a client in the engine's network namespace downloads one known
   media item from MMR (the authenticated client API, as the smoke test does) every 250 ms, four of them as four
   users behind a proxy (each its own ``X-Forwarded-For``), from 2 s before ``pulumi up`` applies a change to 2 s
   after it ends: ``uploads.maxBytes`` 104857600 -> 52428800, which MMR takes
   live (config_schema/live_config.py), then ``docker.watchdog.failures`` 6 -> 7, a setting of MMR's
   container itself, which replaces it. Counted: requests, failed ones
   (any answer but 200 with the right bytes, or none), and the longest run of failures in seconds. 250 ms keeps
   the client under MMR's default rate limit (``rateLimit.requestsPerSecond``, 5 per IP in MMR's code, which the
   program leaves as it is): at 50 ms, three answers in four were MMR's 429, not an outage.

Not part of ``pytest``: timing on a shared machine is no pass/fail matter. Needs what ``bash tests/run`` needs
(root for the tier's dockerd, the Debian packages, the real tools it builds once).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.docker_engine import running_engine  # noqa: E402 - needs the root on sys.path
from tests.real_engine.pulumi_project import PulumiProject, docker_project  # noqa: E402
from tests.real_mmr_image import build_real_tier_images  # noqa: E402

CHANGED_MAX_BYTES = 52428800
SETTLE_SECONDS = 2
# Clients downloading at once, each under MMR's per-address rate limit: together 16 requests a second.
CLIENTS = 4
# The client: one download every 250 ms, each judged; prints its counts as JSON when it is sent SIGTERM.
CLIENT = r"""
import hashlib, json, signal, sys, time, urllib.error, urllib.request
base, host, token, media, digest, address = sys.argv[1:7]
counts = {"requests": 0, "failed": 0, "longest_failure_seconds": 0.0, "answers": {}}
failing_since = None
def stop(*_):
    if failing_since is not None:
        longest = max(counts["longest_failure_seconds"], time.monotonic() - failing_since)
        counts["longest_failure_seconds"] = round(longest, 2)
    print(json.dumps(counts), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    started = time.monotonic()
    request = urllib.request.Request(base + "/_matrix/client/v1/media/download/" + media,
                                     headers={"Host": host, "Authorization": "Bearer " + token,
                                              "X-Forwarded-For": address})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            ok = answer.status == 200 and hashlib.sha256(answer.read()).hexdigest() == digest
            answer_kind = str(answer.status) if ok else "wrong bytes"
    except urllib.error.HTTPError as error:
        ok, answer_kind = False, str(error.code)
    except Exception as error:
        ok, answer_kind = False, type(error).__name__
    counts["answers"][answer_kind] = counts["answers"].get(answer_kind, 0) + 1
    counts["requests"] += 1
    if ok:
        if failing_since is not None:
            longest = max(counts["longest_failure_seconds"], time.monotonic() - failing_since)
            counts["longest_failure_seconds"] = round(longest, 2)
        failing_since = None
    else:
        counts["failed"] += 1
        failing_since = started if failing_since is None else failing_since
    time.sleep(max(0.0, 0.25 - (time.monotonic() - started)))
"""
UPLOAD = r"""
import hashlib, json, sys, urllib.request
base, host, token = sys.argv[1:4]
body = b"a known media item, downloaded in a loop while pulumi up runs\n" * 40
request = urllib.request.Request(base + "/_matrix/media/v3/upload?filename=known.txt", data=body, method="POST",
                                 headers={"Host": host, "Authorization": "Bearer " + token,
                                          "Content-Type": "text/plain"})
with urllib.request.urlopen(request, timeout=30) as answer:
    uri = json.loads(answer.read())["content_uri"]
print(json.dumps({"media": uri[len("mxc://"):], "digest": hashlib.sha256(body).hexdigest()}))
"""


def timed(project: PulumiProject, *arguments: str) -> float:
    started = time.perf_counter()
    project.pulumi(*arguments)
    return round(time.perf_counter() - started, 1)


def in_namespace(project: PulumiProject, code: str, *arguments: str) -> list[str]:
    """The command that runs python ``code`` in the engine's network namespace."""
    return ["nsenter", f"--net=/proc/{project.engine_pid}/ns/net", sys.executable, "-c", code, *arguments]


def while_up_runs(
    project: PulumiProject, base: str, host: str, token: str, known: dict[str, str], *setting: str
) -> tuple[float, dict[str, Any]]:
    """``pulumi config set --path *setting``, then ``pulumi up`` while CLIENTS clients download in a loop, each as
    another user behind a proxy (its own X-Forwarded-For, MMR's rate-limit key); the up's seconds and the
    clients' counts, added up."""
    loops = [
        subprocess.Popen(
            in_namespace(project, CLIENT, base, host, token, known["media"], known["digest"], f"127.0.0.{11 + i}"),
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(CLIENTS)
    ]
    try:
        time.sleep(SETTLE_SECONDS)
        project.pulumi("config", "set", "--path", *setting)
        seconds = timed(project, "up", "--yes")
        time.sleep(SETTLE_SECONDS)
    finally:
        for loop in loops:
            loop.send_signal(signal.SIGTERM)
        counted = [json.loads(loop.communicate(timeout=30)[0]) for loop in loops]
    answers: dict[str, int] = {}
    for counts in counted:
        for kind, number in counts["answers"].items():
            answers[kind] = answers.get(kind, 0) + number
    total = {
        "requests": sum(counts["requests"] for counts in counted),
        "failed": sum(counts["failed"] for counts in counted),
        "longest_failure_seconds": max(counts["longest_failure_seconds"] for counts in counted),
        "answers": answers,
    }
    return seconds, total


def measure(no_op_runs: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="mmr-bench-") as directory,
        running_engine(build_real_tier_images) as client,
    ):
        project = docker_project(client, Path(directory))
        project.pulumi("stack", "init", "dev")
        results["first_up_seconds"] = timed(project, "up", "--yes")
        no_ops = [timed(project, "up", "--yes") for _ in range(no_op_runs)]
        results["no_op_up_seconds"] = {"median": statistics.median(no_ops), "samples": no_ops}

        outputs = project.outputs(show_secrets=True)
        health = urlsplit(outputs["healthUrl"])
        base, host, token = f"{health.scheme}://{health.netloc}", "localhost", outputs["sharedSecretToken"]
        known = json.loads(
            subprocess.run(
                in_namespace(project, UPLOAD, base, host, token), check=True, capture_output=True, text=True
            ).stdout
        )
        mmr = client.inspect_container("mmr-dev")["Id"]
        live = while_up_runs(project, base, host, token, known, "uploads.maxBytes", str(CHANGED_MAX_BYTES))
        results["live_change_up_seconds"], results["live_change_client"] = live
        results["live_change_kept_the_container"] = client.inspect_container("mmr-dev")["Id"] == mmr
        results["live_change_applied"] = project.outputs()["configApplied"]
        restart = while_up_runs(project, base, host, token, known, "docker.watchdog.failures", "7")
        results["restart_change_up_seconds"], results["restart_change_client"] = restart
        project.pulumi("state", "unprotect", "--all")
        project.pulumi("destroy", "--yes")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--no-op-runs", type=int, default=3)
    arguments = parser.parse_args()
    results = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        **measure(arguments.no_op_runs),
    }
    print(f"first pulumi up (dev stack):        {results['first_up_seconds']} s")
    print(f"no-op pulumi up (median of {arguments.no_op_runs}):      {results['no_op_up_seconds']['median']} s")
    for kind, setting in (("live", "uploads.maxBytes, taken live"), ("restart", "docker.watchdog.failures, a restart")):
        client = results[f"{kind}_change_client"]
        print(f"pulumi up, {setting}: {results[f'{kind}_change_up_seconds']} s")
        print(
            f"  client meanwhile: {client['requests']} downloads, {client['failed']} failed, "
            f"longest failing stretch {client['longest_failure_seconds']} s, answers {client['answers']}"
        )
    print(f"  the live change kept MMR's container: {results['live_change_kept_the_container']}")
    print(f"  configApplied: {results['live_change_applied']}")
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
