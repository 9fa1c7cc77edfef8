"""Generated signing keys (MSC3916) in MMR's, Synapse's and Dendrite's formats, and the homeserverSettings output."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from config_schema import StackConfigError, load_stack_config
from config_schema.homeserver_settings import homeserver_settings
from config_schema.reverse_proxy import body_limit, render_caddy, render_nginx, traefik_labels
from config_schema.signing_key import dendrite_pem, mmr_pem, seed_of, signing_key_problem, synapse_line
from tests.kubernetes_stacks import one as kubernetes_one
from tests.kubernetes_stacks import run_variant as run_kubernetes_variant
from tests.pulumi_harness import MOCK_SEED, MOCK_SEED_BASE64, plain_text_leaks, run_program
from tests.variants import HOMESERVER, SIGNING_KEY, VARIANTS

BYTES = "random:index/randomBytes:RandomBytes"
# Seed 00 01 .. 1f, version mmr0, written out as Go's encoding/pem and base64.RawStdEncoding write them
# (homeserver_interop/{mmr,synapse,dendrite}/signing_key.go at 84bcb70): headers sorted, then a blank line.
EXPECTED_MMR = (
    "-----BEGIN MMR PRIVATE KEY-----\n"
    "Key-ID: ed25519:mmr0\n"
    "Version: 1\n"
    "\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "-----END MMR PRIVATE KEY-----\n"
)
EXPECTED_SYNAPSE = "ed25519 mmr0 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
EXPECTED_DENDRITE = (
    "-----BEGIN MATRIX PRIVATE KEY-----\n"
    "Key-ID: ed25519:mmr0\n"
    "\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "-----END MATRIX PRIVATE KEY-----\n"
)


def test_the_formats_are_mmrs_own() -> None:
    assert mmr_pem(MOCK_SEED, "mmr0") == EXPECTED_MMR
    assert synapse_line(MOCK_SEED, "mmr0") == EXPECTED_SYNAPSE
    assert dendrite_pem(MOCK_SEED, "mmr0") == EXPECTED_DENDRITE
    # MMR's decoder accepts it, and reads back the same seed and version.
    assert signing_key_problem(EXPECTED_MMR) is None
    assert seed_of(EXPECTED_MMR) == (MOCK_SEED, "mmr0")


def test_a_long_body_is_wrapped_at_64_as_go_does() -> None:
    pem = mmr_pem(bytes(64), "x")
    body = pem.split("\n\n", 1)[1].split("\n-----END", 1)[0].splitlines()
    assert [len(line) for line in body] == [64, 24]


@pytest.fixture(scope="module")
def dev() -> Any:
    return run_program(VARIANTS["dev"]())


def test_a_homeserver_without_a_key_gets_one_kept_in_the_state(dev: Any) -> None:
    seed = dev.one(BYTES, "mmr-dev-signing-key-localhost")
    assert seed.inputs == {"length": 32, "keepers": {"rotation": "0"}}
    assert seed.protect and seed.retain_on_delete
    keys = dev.outputs["homeserverSigningKeys"]
    assert keys == {
        "localhost": {
            "keyId": "ed25519:mmr0",
            "mmr": EXPECTED_MMR,
            "synapse": EXPECTED_SYNAPSE,
            "dendrite": EXPECTED_DENDRITE,
        }
    }
    assert "homeserverSigningKeys" in dev.secret_outputs
    assert plain_text_leaks(dev, [MOCK_SEED_BASE64]) == []
    setup = dev.one("docker:index/container:Container", "mmr-dev-setup")
    uploaded = {u["file"]: u["content"] for u in setup.inputs["uploads"]}
    assert uploaded["/staging/signing-key-0.pem"] == EXPECTED_MMR


def test_the_seed_does_not_change_with_the_config() -> None:
    base = run_program(VARIANTS["dev"]()).one(BYTES).inputs
    config = {**VARIANTS["dev"](), "metrics": {"enabled": True}, "uploads": {"maxBytes": 1048576}}
    config["homeservers"] = [*config["homeservers"], {"name": "other.org", "csApi": "https://matrix.other.org"}]
    changed = run_program(config)
    assert changed.one(BYTES, "mmr-dev-signing-key-localhost").inputs == base


def test_rotation_on_request_only() -> None:
    config = VARIANTS["dev"]()
    config["homeservers"][0]["signingKeyRotation"] = 1
    run = run_program(config)
    assert run.one(BYTES).inputs["keepers"] == {"rotation": "1"}
    assert run.outputs["homeserverSigningKeys"]["localhost"]["keyId"] == "ed25519:mmr1"


def test_a_given_key_keeps_todays_behaviour() -> None:
    run = run_program({"homeservers": [{**HOMESERVER, "signingKey": SIGNING_KEY}]}, secret_keys=("homeservers",))
    assert [r for r in run.registrations if r.type == BYTES] == []
    setup = run.one("docker:index/container:Container", "mmr-dev-setup")
    uploaded = {u["file"]: u["content"] for u in setup.inputs["uploads"]}
    assert uploaded["/staging/signing-key-0.pem"] == SIGNING_KEY
    seed, version = seed_of(SIGNING_KEY)
    exported = run.outputs["homeserverSigningKeys"]["example.org"]
    assert exported["synapse"] == f"ed25519 {version} {base64.b64encode(seed).decode().rstrip('=')}"


def test_a_key_path_is_left_alone() -> None:
    config = {"homeservers": [{**HOMESERVER, "signingKeyPath": "/config/mine.key"}]}
    run = run_program(config)
    assert [r for r in run.registrations if r.type == BYTES] == []
    assert "homeserverSigningKeys" not in run.outputs
    assert "/config/mine.key" in run.outputs["homeserverSettings"]["example.org"]["signingKey"]


def test_rotation_beside_a_given_key_is_refused() -> None:
    with pytest.raises(StackConfigError, match=r"homeservers\[0\]\.signingKeyRotation is set"):
        load_stack_config({"homeservers": [{**HOMESERVER, "signingKey": SIGNING_KEY, "signingKeyRotation": 2}]})


def test_kubernetes_projects_the_generated_key_into_the_config_directory() -> None:
    run = run_kubernetes_variant("done-when")
    secret = kubernetes_one(run, "Secret", "mmr-prod-secrets")
    assert {"signing-key-0.pem", "signing-key-1.pem"} <= set(secret["stringData"])
    assert run.outputs["homeserverSigningKeys"]["example.org"]["keyId"] == "ed25519:mmr0"


def test_homeserver_settings_follow_the_stack(dev: Any) -> None:
    settings = dev.outputs["homeserverSettings"]["localhost"]
    assert "enable_media_repo: false" in settings["synapse"]
    assert "max_upload_size: 104857600" in settings["synapse"]
    assert "url_preview_enabled: false" in settings["synapse"]
    assert "max_file_size_bytes: 104857600" in settings["dendrite"]
    assert "ed25519:mmr0" in settings["signingKey"]
    assert "jq -r '.[\"localhost\"].synapse' >> " in settings["signingKey"]
    assert "homeserverSettings" not in dev.secret_outputs
    config = {**VARIANTS["dev"](), "uploads": {"maxBytes": 52428800}, "urlPreviews": {"enabled": False}}
    changed = run_program(config).outputs["homeserverSettings"]["localhost"]
    assert "max_upload_size: 52428800" in changed["synapse"] and "url_preview" not in changed["synapse"]


def test_no_upload_limit_tells_the_homeserver_no_number() -> None:
    # uploads.maxBytes 0: MMR limits nothing (pipelines/_steps/upload/limit.go line 11 at ed4f318), nor may the
    # proxies or any limit the homeserver is told to match.
    stack = load_stack_config(
        {"homeservers": [HOMESERVER], "uploads": {"maxBytes": 0}, "proxy": {"traefik": {"enabled": True}}}
    )
    assert body_limit(stack) == "0"
    assert "client_max_body_size 0;" in render_nginx(stack, "http://127.0.0.1:8000")["example.org"]
    assert "max_size" not in render_caddy(stack, "127.0.0.1:8000")["example.org"]
    assert not any("buffering" in label for label in traefik_labels(stack, "mmr"))
    settings = homeserver_settings(stack)["example.org"]
    for text in (settings["synapse"], settings["dendrite"]):
        assert "uploads.maxBytes is 0, so MMR takes uploads of any size" in text
        assert not any(char.isdigit() for line in text.splitlines() if "max_" in line for char in line.split("#")[0])
    assert "max_upload_size: " not in settings["synapse"].replace("# max_upload_size: ", "")
