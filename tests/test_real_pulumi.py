"""The real-engine tier: the dev stack, and the README's Quickstart, run by the real Pulumi CLI.

What is real: the Pulumi CLI and Python language host (built from Go modules, tests/real_tools), the engine's
state, diffs, protection, secrets and refresh; Debian's dockerd (API 1.41) in a network namespace of its own;
and MMR v1.3.8, built from its Go module and laid out as its official image (tests/real_mmr_image.py), which
the smoke test's upload, download and purge reach. What is ours: the docker and random provider plugins
(tests/real_engine/provider_server.py says why), and the Postgres and backup images
(tests/standin_images.py), Debian's binaries behind the official images' entrypoints as we read them.

The tests run in order on one stack, as an operator would type: the stack as committed, then the Quickstart's
rename, then the documented destroy. ``bash tests/run -m real_pulumi`` runs this tier alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import docker
import pytest

from tests.docker_engine import running_engine
from tests.python_servers_image import build_python_servers
from tests.real_engine.homeserver import S3_BUCKET, S3_ENDPOINT, Homeserver, start_homeserver, stop_homeserver
from tests.real_engine.pulumi_project import PulumiProject, docker_project
from tests.real_mmr_image import build_real_tier_images

pytestmark = pytest.mark.real_pulumi

ROOT = Path(__file__).resolve().parent.parent
SECRET_OUTPUTS = ("databaseDsn", "homeserverSigningKeys", "mediaRepoConfig", "sharedSecretToken")
# What `pulumi destroy` refuses to delete, as docs/operations.md "Safe destroy" names it, for the dev stack
# after the Quickstart's rename; and the volumes the documented steps leave on the host.
PROTECTED = {
    "mmr-dev-media",
    "mmr-dev-data",
    "mmr-dev-backups",
    "mmr-dev-password",
    "mmr-dev-signing-key-example.org",
}
RETAINED_VOLUMES = {"mmr-dev-media", "mmr-dev-data", "mmr-dev-backups"}


def quickstart_blocks() -> list[str]:
    """The README Quickstart's command blocks, in order, exactly as printed."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def build_real_images(workdir: Path, docker_host: str) -> None:
    build_real_tier_images(workdir, docker_host)
    build_python_servers(workdir, docker_host)


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.APIClient]:
    with running_engine(build_real_images) as client:
        yield client


@pytest.fixture(scope="module")
def project(engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory) -> PulumiProject:
    return docker_project(engine, tmp_path_factory.mktemp("real-pulumi"))


@pytest.fixture(scope="module")
def homeserver(engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    started = start_homeserver(engine, tmp_path_factory.mktemp("homeserver"))
    yield started
    stop_homeserver(engine)


def test_the_quickstart_has_the_blocks_this_tier_types() -> None:
    init, configure, up, unprotect = quickstart_blocks()
    assert init.strip() == "pulumi stack init dev"
    assert configure.count("pulumi config set") == 2
    assert up.splitlines()[0] == "pulumi up"
    assert unprotect.startswith("pulumi state unprotect")


def test_the_first_up_of_the_stack_as_committed_passes_its_smoke_test_against_the_real_mmr(
    project: PulumiProject, engine: docker.APIClient
) -> None:
    init, _, up, _ = quickstart_blocks()
    project.sh(init)
    typed = project.sh(up)
    assert "smoke test passed for 1 homeserver(s): localhost" in project.outputs()["smokeTest"]
    # curl printed MMR's own answer to /healthz, from the container the real binary runs in.
    assert typed.stdout.rstrip().endswith('{"ok":true,"status":"Probably not dead"}')
    mmr = engine.inspect_container("mmr-dev")
    assert mmr["State"]["Health"]["Status"] == "healthy"
    version = engine.exec_start(engine.exec_create("mmr-dev", ["media_repo", "-version"])["Id"]).decode()
    assert "v1.3.8" in version


def test_no_changes_then_a_refresh_then_no_changes(project: PulumiProject) -> None:
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("refresh", "--yes")
    project.pulumi("preview", "--expect-no-changes", "--diff")


def test_credentials_are_secret_in_outputs_and_encrypted_in_the_state(project: PulumiProject) -> None:
    shown = project.pulumi("stack", "output").stdout
    for name in SECRET_OUTPUTS:
        assert re.search(rf"^\s*{name}\s+\[secret\]\s*$", shown, re.M), f"{name} is not shown as [secret]:\n{shown}"
    revealed = project.outputs(show_secrets=True)
    dsn = urlsplit(revealed["databaseDsn"])
    secrets = {revealed["sharedSecretToken"], dsn.password or ""}
    for keys in revealed["homeserverSigningKeys"].values():
        secrets |= {value for value in keys.values() if isinstance(value, str) and len(value) >= 16}
    secrets = {secret for secret in secrets if len(secret) >= 16}
    assert len(secrets) >= 3, "the token, the Postgres password and a signing key"
    state = project.state()
    for secret in secrets:
        assert secret not in state, "a credential in plain text in the state file"
    assert "ciphertext" in state


def test_the_quickstart_rename_stops_at_the_protected_key_until_it_is_released(
    project: PulumiProject, engine: docker.APIClient
) -> None:
    _, configure, up, unprotect = quickstart_blocks()
    project.sh(configure)
    refused = project.sh(up, check=False)
    assert refused.returncode != 0
    assert "mmr-dev-signing-key-localhost" in refused.stdout and "cannot be deleted" in refused.stdout
    project.sh(unprotect)
    project.sh(up)
    assert "smoke test passed for 1 homeserver(s): example.org" in project.outputs()["smokeTest"]
    project.pulumi("preview", "--expect-no-changes")


def test_destroy_refuses_what_the_docs_name_and_leaves_the_documented_volumes(
    project: PulumiProject, engine: docker.APIClient
) -> None:
    refused = project.pulumi("destroy", check=False)
    assert refused.returncode != 0
    named = set(re.findall(r'resource "urn:pulumi:dev::[^"]*::([^"]+)" cannot be deleted', refused.stdout))
    assert named == PROTECTED
    # docs/operations.md "Safe destroy": the steps, as printed.
    project.pulumi("state", "unprotect", "--all")
    project.pulumi("destroy")
    assert {volume["Name"] for volume in engine.volumes()["Volumes"] or []} == RETAINED_VOLUMES
    assert not engine.containers(all=True)
    assert not [network for network in engine.networks() if network["Name"].startswith("mmr-")]


def test_a_stack_with_redis_and_metrics_comes_up_changes_nothing_and_destroys_as_documented(
    project: PulumiProject, engine: docker.APIClient
) -> None:
    project.sh(
        "pulumi stack init ops\n"
        "pulumi config set --path 'homeservers[0].name' example.org\n"
        "pulumi config set --path 'homeservers[0].csApi' https://matrix.example.org\n"
        "pulumi config set --path redis.enabled true\n"
        "pulumi config set --path metrics.enabled true\n"
    )
    project.pulumi("up", "--yes")
    assert "smoke test passed for 1 homeserver(s): example.org" in project.outputs()["smokeTest"]
    # MMR holds connections to Redis, and serves its own series on the metrics port.
    clients = engine.exec_start(engine.exec_create("mmr-ops-redis", ["redis-cli", "info", "clients"])["Id"]).decode()
    assert int(re.search(r"connected_clients:(\d+)", clients).group(1)) >= 2, clients  # type: ignore[union-attr]
    metrics = project.sh("curl -sf http://127.0.0.1:9000/metrics").stdout
    assert "media_http_requests_total" in metrics
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("refresh", "--yes")
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("state", "unprotect", "--all")
    project.pulumi("destroy")
    ops_volumes = {volume["Name"] for volume in engine.volumes()["Volumes"] or []} - RETAINED_VOLUMES
    assert ops_volumes == {"mmr-ops-media", "mmr-ops-data", "mmr-ops-backups"}
    assert not engine.containers(all=True)


def homeserver_steps() -> str:
    """The README's section "The homeserver's side"."""
    readme = (ROOT / "README.md").read_text()
    return readme.split("## The homeserver's side", 1)[1].split("\n## ", 1)[0]


def test_the_readmes_homeserver_steps_import_every_item_before_synapse_stops_serving_media_then_s3_takes_it_all(
    project: PulumiProject, engine: docker.APIClient, homeserver: Homeserver
) -> None:
    """The README's homeserver steps in their order on real Synapse; then a restore, then the move to S3."""
    steps = homeserver_steps()
    markers = ("**Import the media", "**Route the media paths", "**Import again**", "enable_media_repo: false")
    assert [steps.index(marker) for marker in markers] == sorted(steps.index(marker) for marker in markers)
    import_again = re.search(r"```sh\n\s*(docker start -a mmr-<stack>-import)\n", steps)
    assert import_again, "the README's step 4 has no command"

    # Steps 1 and 2: MMR reaches Synapse's client API, and imports while Synapse still serves its media.
    in_synapse = [f"synapse media {index} ".encode() * 20 for index in range(3)]
    synapse_uris = homeserver.upload("http://127.0.0.1:8008", in_synapse)
    project.sh(
        "pulumi stack init media\n"
        "pulumi config set --path 'homeservers[0].name' example.org\n"
        "pulumi config set --path 'homeservers[0].csApi' http://synapse:8008\n"
        "pulumi config set --path 'docker.networks[0]' synapse_default\n"
        "pulumi config set --path 'import.from' synapse\n"
        "pulumi config set --path 'import.dbHost' synapse-postgres\n"
        "pulumi config set --path 'import.dbName' synapse\n"
        "pulumi config set --path 'import.dbUsername' synapse\n"
        f"pulumi config set --secret --path 'import.dbPassword' '{homeserver.database_password}'\n"
        "pulumi config set --path 'import.serverName' example.org\n"
        "pulumi config set --path 'import.baseUrl' http://synapse:8008\n"
    )
    project.pulumi("up", "--yes")
    imported = engine.wait("mmr-media-import", timeout=300)
    assert imported["StatusCode"] == 0, engine.logs("mmr-media-import").decode(errors="replace")
    # Uploaded to Synapse after the import, before the routes change.
    late = [b"uploaded between the import and the routes " * 4]
    late_uris = homeserver.upload("http://127.0.0.1:8008", late)
    # Step 3: from now on clients upload to MMR (the proxy's part; here the client calls MMR directly).
    mmr = "http://mmr-media:8000"
    in_mmr = [f"mmr media {index} ".encode() * 20 for index in range(2)]
    mmr_uris = homeserver.upload(mmr, in_mmr)
    # Step 4, as printed, for this stack.
    project.sh(import_again.group(1).replace("<stack>", "media"))
    # Step 5: Synapse serves no media any more; MMR serves all of it, each download authorised by MMR asking
    # the real Synapse (csApi) whose token it is.
    homeserver.reconfigure_synapse(enable_media_repo=False, enable_authenticated_media=True)
    with pytest.raises(AssertionError):
        homeserver.download("http://127.0.0.1:8008", synapse_uris[0])
    every_uri, every_body = synapse_uris + late_uris + mmr_uris, in_synapse + late + in_mmr
    assert [homeserver.download(mmr, uri) for uri in every_uri] == every_body
    project.pulumi("preview", "--expect-no-changes")

    # docs/operations.md "Backup and restore": a dump (as the schedule makes one), the database losing its media
    # records, then the restore command the stack prints, as printed; MMR serves every item again.
    _exec(engine, "mmr-media-postgres-backup", ["/backup.sh"])
    _exec(engine, "mmr-media-postgres", ["psql", "-U", "mediarepo", "-d", "mediarepo", "-c", "DELETE FROM media"])
    with pytest.raises(AssertionError, match="404"):
        homeserver.download(mmr, synapse_uris[0])
    project.sh(project.outputs(show_secrets=True)["databaseRestoreCommand"])
    _wait_until_served(homeserver, mmr, every_uri, every_body)

    project.sh(
        "pulumi config set --path 's3.provider' external\n"
        f"pulumi config set --path 's3.endpoint' {S3_ENDPOINT}\n"
        f"pulumi config set --path 's3.bucketName' {S3_BUCKET}\n"
        "pulumi config set --path 's3.region' us-east-1\n"
        "pulumi config set --path 's3.ssl' false\n"
        "pulumi config set --path 's3.accessKeyId' matrix-media-repo\n"
        "pulumi config set --secret --path 's3.accessSecret' moto-takes-any-secret\n"
        "pulumi config set --path 'datastores.s3.forKinds[0]' thumbnails\n"
        "pulumi config set --path 'datastores.s3.forKinds[1]' remote_media\n"
        "pulumi config set --path 'datastores.s3.forKinds[2]' local_media\n"
        "pulumi config set --path 'datastores.s3.forKinds[3]' archives\n"
        "pulumi config set --path 'datastores.file.transferTo' s3\n"
    )
    project.pulumi("up", "--yes")
    transfer = project.outputs()["mediaTransfer"]
    assert "moved everything from file to s3" in str(transfer), transfer
    keys = homeserver.bucket_keys()
    assert len(keys) >= len(every_uri), keys
    assert [homeserver.download(mmr, uri) for uri in every_uri] == every_body
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("refresh", "--yes")
    project.pulumi("preview", "--expect-no-changes")
    project.pulumi("state", "unprotect", "--all")
    project.pulumi("destroy")
    assert not [c for c in engine.containers(all=True) if c["Names"][0].startswith("/mmr-media")]


def _exec(engine: docker.APIClient, container: str, command: list[str]) -> str:
    run = engine.exec_create(container, command)
    output = engine.exec_start(run["Id"]).decode(errors="replace")
    assert engine.exec_inspect(run["Id"])["ExitCode"] == 0, f"{command} in {container}: {output}"
    return output


def _wait_until_served(homeserver: Homeserver, base_url: str, uris: list[str], bodies: list[bytes]) -> None:
    """MMR restarted by the restore command serves ``bodies`` again, within a minute."""
    deadline = time.monotonic() + 60
    while True:
        try:
            assert [homeserver.download(base_url, uri) for uri in uris] == bodies
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)
