"""host.provider digitalocean, under mocks: the droplet and everything around it, and MMR's stack on it.

DigitalOcean's, pulumi-tls's and pulumi-command's plugins cannot run here (no DigitalOcean API; the Go module
proxy serves none of their provider modules), so this is what the program asks of them. The parts that can be
real are in tests/test_digitalocean_host_real.py.
"""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from config_schema.cloud_init import readiness_script
from tests.pulumi_harness import (
    MOCK_RESERVED_IP,
    MOCK_VPC_RANGE,
    ProgramRun,
    RecordingMonitor,
    is_secret_marker,
    plain_text_leaks,
    run_program,
)
from tests.variants import HOMESERVER, MINIMAL_DIGITALOCEAN_HOST

ADMIN = "203.0.113.7/32"
MINIMAL = MINIMAL_DIGITALOCEAN_HOST
DROPLET = "digitalocean:index/droplet:Droplet"
FIREWALL = "digitalocean:index/firewall:Firewall"
VOLUME = "digitalocean:index/volume:Volume"
RESERVED_IP = "digitalocean:index/reservedIp:ReservedIp"
READY = "command:remote:Command"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"


@pytest.fixture(scope="module")
def minimal() -> ProgramRun:
    return run_program(MINIMAL)


def test_the_minimal_stack_makes_the_host_and_deploys_on_it(minimal: ProgramRun) -> None:
    for type_token in (DROPLET, FIREWALL, VOLUME, RESERVED_IP, READY, "digitalocean:index/sshKey:SshKey"):
        assert minimal.of_type(type_token), type_token
    assert len(minimal.of_type(PRIVATE_KEY)) == 5  # CA, server, client, SSH client, SSH host
    assert len(minimal.of_type("tls:index/locallySignedCert:LocallySignedCert")) == 2
    droplet = minimal.one(DROPLET).inputs
    assert (droplet["region"], droplet["size"], droplet["image"]) == ("ams3", "s-2vcpu-4gb", "debian-12-x64")
    [provider] = minimal.of_type("pulumi:providers:docker")
    docker_resources = [r for r in minimal.registrations if r.type.startswith("docker:")]
    assert {r.type for r in docker_resources} >= {"docker:index/container:Container", "docker:index/volume:Volume"}
    # Every Docker resource, Postgres and MMR included, goes to the new host's engine, none to a local one.
    assert [r.name for r in docker_resources if not r.provider.startswith(f"{provider.urn}::")] == []
    assert provider.inputs["host"] == f"tcp://{MOCK_RESERVED_IP}:2376"


def test_the_engine_is_reached_only_after_the_readiness_command(minimal: ProgramRun) -> None:
    ready = minimal.one(READY)
    provider = minimal.one("pulumi:providers:docker")
    # The provider's host is an output of the readiness command's: no Docker call can race the boot.
    assert ready.urn in provider.dependencies
    assert ready.inputs["create"] == readiness_script("mmr-dev-docker")
    connection = ready.inputs["connection"]
    assert (connection["host"], connection["user"]) == (MOCK_RESERVED_IP, "root")
    assert connection["dialErrorLimit"] == 60
    # The host key the droplet is given in its cloud-config, pinned from the first connection.
    assert connection["hostKey"] == "ssh-ed25519 AAAAMOCKmmr-dev-tls-ssh-host"
    assert {
        minimal.one("digitalocean:index/reservedIpAssignment:ReservedIpAssignment").urn,
        minimal.one(FIREWALL).urn,
    } <= set(ready.dependencies)


def test_firewall_rules_are_exactly_ssh_docker_and_mmr(minimal: ProgramRun) -> None:
    firewall = minimal.one(FIREWALL).inputs
    inbound = {(rule["protocol"], rule["portRange"]): rule["sourceAddresses"] for rule in firewall["inboundRules"]}
    assert inbound == {("tcp", "22"): [ADMIN], ("tcp", "2376"): [ADMIN], ("tcp", "8000"): [MOCK_VPC_RANGE]}
    outbound = {(rule["protocol"], rule.get("portRange")) for rule in firewall["outboundRules"]}
    assert outbound == {("tcp", "1-65535"), ("udp", "1-65535"), ("icmp", None)}
    assert firewall["dropletIds"] == [412345678]


def test_media_repo_sources_replace_the_vpc_and_metrics_open_only_when_bound_beyond_loopback() -> None:
    config = {**MINIMAL, "host": {**MINIMAL["host"], "mediaRepoSources": ["198.51.100.0/24"]}}
    config["metrics"] = {"enabled": True, "bindAddress": "0.0.0.0"}
    run = run_program(config)
    inbound = {rule["portRange"]: rule["sourceAddresses"] for rule in run.one(FIREWALL).inputs["inboundRules"]}
    assert inbound == {"22": [ADMIN], "2376": [ADMIN], "8000": ["198.51.100.0/24"], "9000": ["198.51.100.0/24"]}
    assert run.outputs["endpoint"] == f"http://{MOCK_RESERVED_IP}:8000"


def test_the_volume_is_protected_retained_and_docker_data_root(minimal: ProgramRun) -> None:
    volume = minimal.one(VOLUME)
    assert volume.protect and volume.retain_on_delete
    assert volume.inputs["size"] == 50 and volume.inputs["initialFilesystemType"] == "ext4"
    assert minimal.one(RESERVED_IP).protect
    droplet = minimal.one(DROPLET)
    assert droplet.inputs["volumeIds"] == ["7a9c1e2f-volume"]
    # A new cloud-config never replaces the droplet by surprise; a replaced one is gone before the next attaches.
    assert "userData" in droplet.ignore_changes and droplet.delete_before_replace
    mounts = yaml.safe_load(droplet.inputs["userData"])["mounts"]
    assert mounts == [
        [
            "/dev/disk/by-id/scsi-0DO_Volume_mmr-dev-docker",
            "/var/lib/docker",
            "ext4",
            "defaults,nofail,discard",
            "0",
            "2",
        ]
    ]


def test_every_private_key_is_secret_from_birth_and_in_no_plain_value(minimal: ProgramRun) -> None:
    for key in minimal.of_type(PRIVATE_KEY):
        assert key.inputs["algorithm"] in ("ECDSA", "ED25519")
        # Secret in the state from the provider's first answer, whatever the plugin's own schema says.
        assert {"privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"} <= set(key.additional_secret_outputs)
    # The mocks' private keys all carry "MOCK-"; none may be readable anywhere without the secret marker.
    keys = [f"MOCK-{key.name}" for key in minimal.of_type(PRIVATE_KEY)]
    assert plain_text_leaks(minimal, keys) == []
    ready = minimal.one(READY)
    assert is_secret_marker(ready.raw_inputs["stdin"])
    assert is_secret_marker(ready.raw_inputs["connection"]) or is_secret_marker(
        ready.raw_inputs["connection"]["privateKey"]
    )
    assert is_secret_marker(minimal.one("pulumi:providers:docker").raw_inputs["keyMaterial"])
    # The server's certificate and key reach the host on stdin, never in its user data (metadata any
    # container on the droplet can read); the one key there is the SSH host key, and the user data is secret.
    droplet = minimal.one(DROPLET)
    assert is_secret_marker(droplet.raw_inputs["userData"])
    ssh_keys = yaml.safe_load(droplet.inputs["userData"])["ssh_keys"]
    assert "MOCK-mmr-dev-tls-ssh-host" in ssh_keys["ed25519_private"]
    assert droplet.inputs["userData"].count("PRIVATE KEY-----") == 2  # its BEGIN and END lines
    assert set(json.loads(ready.inputs["stdin"])) == {"ca.pem", "server-cert.pem", "server-key.pem"}


def test_outputs_say_how_to_reach_the_host(minimal: ProgramRun) -> None:
    outputs = minimal.outputs
    assert outputs["hostAddress"] == MOCK_RESERVED_IP
    assert outputs["hostDockerEndpoint"] == f"tcp://{MOCK_RESERVED_IP}:2376"
    assert outputs["hostSshCommand"] == (
        f"ssh -i mmr-host-ssh-key -o UserKnownHostsFile=mmr-host-known-hosts root@{MOCK_RESERVED_IP}"
    )
    assert outputs["hostSshKnownHosts"] == f"{MOCK_RESERVED_IP} ssh-ed25519 AAAAMOCKmmr-dev-tls-ssh-host"
    assert set(outputs["hostDockerTls"]) == {"ca.pem", "cert.pem", "key.pem"}
    assert {"hostDockerTls", "hostSshPrivateKey"} <= minimal.secret_outputs
    assert {"hostAddress", "hostDockerEndpoint", "hostSshCommand", "hostSshKnownHosts"}.isdisjoint(
        minimal.secret_outputs
    )
    # MMR listens beyond loopback on the droplet; a reverse proxy in the VPC reaches its private address.
    assert outputs["endpoint"] == "http://10.110.0.2:8000" and outputs["healthUrl"].endswith(":8000/healthz")
    media_repo = minimal.one("docker:index/container:Container", "mmr-dev").inputs
    assert {port["ip"] for port in media_repo["ports"]} == {"0.0.0.0"}


def test_debian_12s_engine_gets_no_start_interval(minimal: ProgramRun) -> None:
    # docker.io 20.10 (API 1.41) refuses a health check's start_interval; the host is not there to ask.
    checks = [c.inputs.get("healthcheck") for c in minimal.of_type("docker:index/container:Container")]
    assert [check for check in checks if check and "startInterval" in check] == []


def test_a_stack_without_host_makes_none_and_still_asks_its_engine() -> None:
    run = run_program({"homeservers": [HOMESERVER]})
    assert [r.type for r in run.registrations if r.type.split(":")[0] in ("digitalocean", "tls", "command")] == []
    assert all(r.provider == "" or "default" in r.provider for r in run.registrations if r.type.startswith("docker:"))
    assert run.outputs["endpoint"] == "http://127.0.0.1:8000"


def test_the_region_follows_the_space() -> None:
    config = {
        **MINIMAL,
        "s3": {"provider": "digitalocean", "region": "fra1"},
        "datastores": {"s3": {"forKinds": ["local_media"]}},
    }
    run = run_program(config, extra_config={"digitalocean:spacesAccessId": "DO00", "digitalocean:spacesSecretKey": "x"})
    assert {r.inputs["region"] for r in run.registrations if r.type in (DROPLET, VOLUME, RESERVED_IP)} == {"fra1"}


def test_a_managed_database_admits_the_droplet_without_trusted_sources_typed() -> None:
    run = run_program({**MINIMAL, "database": {"provider": "digitalocean"}})
    rules = run.one("digitalocean:index/databaseFirewall:DatabaseFirewall").inputs["rules"]
    assert rules == [{"type": "droplet", "value": "412345678"}]


def test_bad_host_input_stops_the_program_before_any_resource() -> None:
    monitor: list[RecordingMonitor] = []

    def recording(mocks: pulumi.runtime.Mocks) -> RecordingMonitor:
        monitor.append(RecordingMonitor(mocks))
        return monitor[0]

    for host in ({"provider": "digitalocean"}, {**MINIMAL["host"], "adminCidrs": ["0.0.0.0/0"]}):
        monitor.clear()
        with pytest.raises(pulumi.RunError) as caught:
            run_program({**MINIMAL, "host": host}, monitor_factory=recording)
        assert type(caught.value) is pulumi.RunError and "matrix-media-repo:host.adminCidrs" in str(caught.value)
        assert monitor[0].registrations == []


def test_a_size_whose_memory_is_unknown_and_loopback_mmr_are_warned_about() -> None:
    config = {**MINIMAL, "host": {**MINIMAL["host"], "size": "c-2"}, "http": {"bindAddress": "127.0.0.1"}}
    run = run_program(config)
    assert len(run.warnings) == 2
    assert "host.size 'c-2' does not say its memory" in run.warnings[1]
    assert run.warnings[0].endswith("Fix: pulumi config rm --path 'http.bindAddress'")
