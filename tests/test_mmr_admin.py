"""``mmr_admin.sh``, the smoke test's and the transfer's script, run by busybox's sh against a fake MMR.

busybox is the userland of MMR's alpine image; this is Debian's build of it (its small nc). Alpine builds
nc_bloaty instead (NC_110_COMPAT): that build passed these tests once, by hand, with busybox built from
source and put first on the PATH; CI cannot build it, so it is not run here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.shared.admin_calls import ADMIN_SCRIPT_PATH
from tests.fake_mmr import FakeState, fake_mmr
from tests.host_tools import require_tool

TOKEN = "t0ken" * 8
SERVERS = ["example.org", "example.com"]


def run_script(tmp_path: Path, state: FakeState, *arguments: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with fake_mmr(state) as port:
        completed = subprocess.run(
            [
                str(require_tool("busybox")),
                "sh",
                str(ADMIN_SCRIPT_PATH),
                arguments[0],
                str(token_file),
                "127.0.0.1",
                str(port),
                *arguments[1:],
            ],
            capture_output=True,
            text=True,
            timeout=120,
            # busybox's applets, not the host's programs: the same tools MMR's image has.
            env={
                "PATH": str(_applet_dir(tmp_path)),
                "MMR_ADMIN_POLL_SECONDS": "0",
                "MMR_ADMIN_RETRY_SECONDS": "0",
                **(env or {}),
            },
        )
    return completed.returncode, completed.stdout + completed.stderr


def _applet_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    if not directory.exists():
        directory.mkdir()
        busybox = require_tool("busybox")
        applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            (directory / applet).symlink_to(busybox)
    return directory


def state(*faults: str) -> FakeState:
    return FakeState(token=TOKEN, servers=set(SERVERS), faults=set(faults))


def test_smoke_uploads_downloads_and_purges_for_every_server(tmp_path: Path) -> None:
    fake = state()
    code, output = run_script(tmp_path, fake, "smoke", *SERVERS)
    assert code == 0, output
    assert "smoke test passed for 2 homeserver(s): example.org example.com" in output
    routes = [(method, path.split("?")[0].rsplit("/", 1)[0], host) for method, path, host in fake.requests]
    # MMR is waited for first, then each server in turn.
    assert routes.pop(0) == ("GET", "", "example.org")
    assert routes[:3] == [
        ("POST", "/_matrix/media/v3", "example.org"),
        ("GET", "/_matrix/client/v1/media/download/example.org", "example.org"),
        ("POST", "/_matrix/media/unstable/admin/purge/example.org", "example.org"),
    ]
    assert [host for _, _, host in fake.requests[4:]] == ["example.com"] * 3
    # Nothing of the test media is left, and no request was cut short by a half-closed socket.
    assert fake.media == {} and fake.half_closed == 0


def test_smoke_fails_with_mmrs_own_answer(tmp_path: Path) -> None:
    code, output = run_script(tmp_path, state("refuse-upload"), "smoke", "example.org")
    assert code == 1
    assert (
        "MMR answered POST /_matrix/media/v3/upload?filename=mmr-smoke-test.txt for example.org with HTTP 500: "
        '{"errcode":"M_UNKNOWN","error":"Unexpected Error"}' in output
    )


def test_smoke_compares_the_bytes_and_cleans_up(tmp_path: Path) -> None:
    fake = state("corrupt")
    code, output = run_script(tmp_path, fake, "smoke", "example.org")
    assert code == 1 and "returned other bytes" in output, output
    assert fake.media == {}


def test_smoke_follows_a_redirect_to_the_public_address(tmp_path: Path) -> None:
    """s3.publicBaseUrl with redirectWhenCached: the bytes are fetched from where MMR points, and compared."""
    fake = state("redirect")
    code, output = run_script(tmp_path, fake, "smoke", "example.org")
    assert code == 0, output
    assert [path.split("/")[1] for method, path, _ in fake.requests if method == "GET"][-1] == "public"
    assert fake.media == {}


def test_smoke_fails_when_the_public_address_cannot_be_fetched(tmp_path: Path) -> None:
    fake = state("redirect-nowhere")
    code, output = run_script(tmp_path, fake, "smoke", "example.org")
    assert code == 1
    assert "MMR sent the download for example.org to http://127.0.0.1:9/public/" in output
    assert "which this container could not fetch" in output
    assert fake.media == {}


def test_smoke_refused_for_an_unknown_host_or_token(tmp_path: Path) -> None:
    code, output = run_script(tmp_path, state(), "smoke", "elsewhere.org")
    assert code == 1 and "with HTTP 404" in output and "Unknown host" in output
    fake = state()
    fake.token = "another"
    code, output = run_script(tmp_path, fake, "smoke", "example.org")
    assert code == 1 and "HTTP 401" in output and "M_UNKNOWN_TOKEN" in output
    assert TOKEN not in output


def test_smoke_waits_out_the_rate_limit(tmp_path: Path) -> None:
    fake = state("rate-limit-once")
    code, output = run_script(tmp_path, fake, "smoke", "example.org")
    assert code == 0, output
    assert fake.rate_limited == 1


def test_no_answer_fails_naming_the_address(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    completed = subprocess.run(
        [
            str(require_tool("busybox")),
            "sh",
            str(ADMIN_SCRIPT_PATH),
            "smoke",
            str(token_file),
            "127.0.0.1",
            "9",
            "example.org",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(_applet_dir(tmp_path)), "MMR_ADMIN_RETRY_SECONDS": "0"},
    )
    assert completed.returncode == 1
    assert "no answer from 127.0.0.1:9 to GET /healthz" in completed.stderr


@pytest.mark.parametrize("count", [0, 3])
def test_transfer_follows_the_task_to_its_end(tmp_path: Path, count: int) -> None:
    fake = state()
    fake.on_source = {f"m{index}": 100 for index in range(count)}
    code, output = run_script(tmp_path, fake, "transfer", "example.org", "file", "s3")
    assert code == 0, output
    if count == 0:
        assert "nothing to move: datastore file holds no media" in output
        assert not fake.tasks
    else:
        assert "datastore file holds 3 media and 0 thumbnails (300 bytes); moving them to s3" in output
        assert "transfer finished: task 1 moved everything from file to s3" in output
        assert len(fake.moved) == 3 and fake.polls == 4


def test_transfer_fails_with_the_tasks_error(tmp_path: Path) -> None:
    fake = state("task-error")
    fake.on_source = {"m0": 1}
    code, output = run_script(tmp_path, fake, "transfer", "example.org", "file", "s3")
    assert code == 1
    assert "MMR's task 1 (moving file to s3) failed: error in locate: connection refused" in output


def test_transfer_fails_when_media_is_left_behind(tmp_path: Path) -> None:
    fake = state("leave-one")
    fake.on_source = {"m0": 5, "m1": 7}
    code, output = run_script(tmp_path, fake, "transfer", "example.org", "file", "s3")
    assert code == 1
    assert "task 1 ended, but 1 media and 0 thumbnails (7 bytes) are still on datastore file" in output


def test_transfer_gives_up_on_a_stalled_task(tmp_path: Path) -> None:
    fake = state("stall")
    fake.on_source = {"m0": 1}
    code, output = run_script(
        tmp_path,
        fake,
        "transfer",
        "example.org",
        "file",
        "s3",
        env={"MMR_ADMIN_POLL_SECONDS": "1", "MMR_ADMIN_STALL_SECONDS": "0", "MMR_ADMIN_CHECK_SECONDS": "1"},
    )
    assert code == 1
    assert "task 1 moved nothing for 0s and has not ended" in output


def test_a_transfer_start_without_an_answer_is_not_sent_again(tmp_path: Path) -> None:
    """MMR may have started the task: a second POST would start another over the same media."""
    fake = state("drop-transfer-start")
    fake.on_source = {"m0": 1}
    code, output = run_script(
        tmp_path, fake, "transfer", "example.org", "file", "s3", env={"MMR_ADMIN_NET_TIMEOUT": "3"}
    )
    assert code == 1
    assert "to POST /_matrix/media/unstable/admin/datastores/file/transfer_to/s3" in output
    assert "not sent again" in output
    assert [path for method, path, _ in fake.requests if method == "POST"] == [
        f"/_matrix/media/unstable/admin/datastores/file/transfer_to/s3?before_ts={32503680000000}"
    ]
