"""The smoke test's and the transfer's one-shots on a real Docker engine, against the MMR stand-in.

The stand-in (tests/standins/media_repo_http.sh) answers upload, download, purge, the transfer and
its task as MMR's routes do, after MMR's Host and token checks; marker files on the media volume
make it refuse an upload or fail the task. This proves the wiring: the container, its network, the
token file, the script in MMR's busybox, and that a failure fails `pulumi up` with MMR's answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pulumi
import pytest

from tests.docker_replay import EngineState
from tests.test_docker_engine import MMR_UID, apply, container_ids, run_in, tear_down
from tests.variants import aws_s3

STACK = "admin"
ALL_KINDS = ["thumbnails", "remote_media", "local_media", "archives"]


def config(**changes: Any) -> dict[str, Any]:
    """The AWS S3 variant on ports of its own; local media on the volume until the move."""
    base = {**aws_s3(), "http": {"port": 8005}, "backup": {}}
    base["datastores"] = {"s3": {"forKinds": ["remote_media"]}}
    return {**base, **changes}


MOVING = {"datastores": {"file": {"transferTo": "s3"}, "s3": {"forKinds": ALL_KINDS}}}


@pytest.fixture(scope="module")
def engine(docker_engine: docker.APIClient) -> Iterator[EngineState]:
    state = EngineState(docker_engine)
    try:
        yield state
    finally:
        tear_down(docker_engine, STACK)


def sh(client: docker.APIClient, script: str) -> str:
    code, output = run_in(client, f"mmr-{STACK}", ["sh", "-c", script], user=MMR_UID)
    assert code == 0, output
    return output


def test_the_smoke_test_proves_upload_download_and_purge(engine: EngineState) -> None:
    client = engine.client
    run = apply(engine, config(), STACK)
    smoke = client.inspect_container(f"mmr-{STACK}-smoke")
    assert (smoke["State"]["Status"], smoke["State"]["ExitCode"]) == ("exited", 0)
    assert run.outputs["smokeTest"] == "smoke test passed for 1 homeserver(s): example.org"
    logs = client.logs(smoke["Id"]).decode()
    assert "uploaded, downloaded (sha256" in logs and "and purged mxc://example.org/" in logs
    # The test media is gone again; the upload went where the config sends local media: the volume.
    assert sh(client, "ls -A /media/.standin-store /tmp/.standin-bucket").split() == [
        "/media/.standin-store:",
        "/tmp/.standin-bucket:",
    ]
    # On the private network only, nothing published, and the token in neither command nor env.
    assert set(smoke["NetworkSettings"]["Networks"]) == {f"mmr-{STACK}-private"}
    assert not smoke["HostConfig"]["PortBindings"]
    token = run.outputs["sharedSecretToken"]
    assert token not in str(smoke["Config"]["Cmd"]) + str(smoke["Config"]["Env"]) + str(smoke["Config"]["Labels"])
    # Nothing changed: the test is not run again.
    before = container_ids(client, STACK)
    apply(engine, config(), STACK)
    assert container_ids(client, STACK) == before


def test_a_refused_upload_fails_the_up_with_mmrs_answer(engine: EngineState) -> None:
    client = engine.client
    sh(client, "touch /media/.standin-refuse-upload")
    try:
        # A config change replaces MMR, and so runs the smoke test again.
        with pytest.raises(pulumi.RunError, match=f"mmr-{STACK}-smoke exited with code 1") as failure:
            apply(engine, config(accessTokens={"maxCacheTimeSeconds": 60}), STACK)
        assert (
            "MMR answered POST /_matrix/media/v3/upload?filename=mmr-smoke-test.txt for example.org with HTTP 500: "
            '{"errcode":"M_UNKNOWN","error":"Unexpected Error"}' in str(failure.value)
        )
        assert f"pulumi up --replace 'urn:pulumi:{STACK}::" in str(failure.value)
    finally:
        sh(client, "rm -f /media/.standin-refuse-upload")


def test_the_transfer_moves_the_file_datastore_and_fails_on_a_failed_task(engine: EngineState) -> None:
    client = engine.client
    # Local media already on the volume, as years of uploads would be.
    sh(client, "for i in 1 2 3; do echo media-$i > /media/.standin-store/m$i; done")
    sh(client, "touch /media/.standin-fail-transfer")
    with pytest.raises(pulumi.RunError, match=f"mmr-{STACK}-transfer exited with code 1") as failure:
        apply(engine, config(**MOVING), STACK)
    assert "MMR's task 1 (moving file to s3) failed: error in locate: stand-in failed on purpose" in str(failure.value)
    # The smoke test ran first and passed, with the file datastore read-only: its upload went to "S3".
    assert client.inspect_container(f"mmr-{STACK}-smoke")["State"]["ExitCode"] == 0
    assert "forKinds: []" in sh(client, "cat /config/repo/media-repo.yaml")

    sh(client, "rm -f /media/.standin-fail-transfer; mv /tmp/.standin-bucket/m* /media/.standin-store/")
    # Asked again (here: the key off, then on; `pulumi up --replace <urn>` does the same).
    apply(engine, config(datastores=MOVING["datastores"] | {"file": {}}), STACK)
    assert f"mmr-{STACK}-transfer" not in container_ids(client, STACK)
    run = apply(engine, config(**MOVING), STACK)
    assert run.outputs["mediaTransfer"]["result"] == "transfer finished: task 2 moved everything from file to s3"
    assert run.outputs["mediaTransfer"]["rerunCommand"].startswith(f"pulumi up --replace 'urn:pulumi:{STACK}::")
    assert sh(client, "ls /media/.standin-store").split() == []
    assert sh(client, "ls /tmp/.standin-bucket").split() == ["m1", "m2", "m3"]
    logs = client.logs(f"mmr-{STACK}-transfer").decode()
    assert "datastore file holds 3 media and 0 thumbnails (24 bytes); moving them to s3" in logs

    # Later runs, even one that replaces MMR and runs the smoke test again, leave the transfer as it is.
    transfer_id = container_ids(client, STACK)[f"mmr-{STACK}-transfer"]
    before_smoke = container_ids(client, STACK)[f"mmr-{STACK}-smoke"]
    apply(engine, config(**MOVING, accessTokens={"maxCacheTimeSeconds": 30}), STACK)
    after = container_ids(client, STACK)
    assert after[f"mmr-{STACK}-smoke"] != before_smoke
    assert after[f"mmr-{STACK}-transfer"] == transfer_id
