"""Production operations under mocks: reverse-proxy routes, Traefik labels, metrics, signing keys, Redis, imports."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pulumi
import pytest
import yaml

from config_schema import load_stack_config
from config_schema.reverse_proxy import (
    LOGOUT_PATH_REGEX,
    LOGOUT_PATHS,
    MEDIA_PATH_PREFIXES,
    render_caddy,
    render_nginx,
)
from tests.pulumi_harness import MOCK_PASSWORD, ProgramRun, is_secret_marker, plain_strings, run_program
from tests.upstream_keys import upstream_violations
from tests.variants import HOMESERVER, IMPORT_DB_PASSWORD, SIGNING_KEY, VARIANTS

CONTAINER = "docker:index/container:Container"
TWO_HOMESERVERS = [HOMESERVER, {"name": "example.net", "csApi": "https://matrix.example.net"}]


@pytest.fixture(scope="module")
def ops() -> ProgramRun:
    return run_program(VARIANTS["operations"]())


def rendered(run: ProgramRun) -> dict[str, Any]:
    document = yaml.safe_load(run.outputs["mediaRepoConfig"])
    assert upstream_violations(document) == []
    return document


@pytest.mark.parametrize("cache_seconds", [0, 43200])
def test_nginx_and_caddy_route_every_media_path_per_homeserver(cache_seconds: int) -> None:
    stack = load_stack_config({"homeservers": TWO_HOMESERVERS, "accessTokens": {"maxCacheTimeSeconds": cache_seconds}})
    nginx = render_nginx(stack, "http://127.0.0.1:8000")
    caddy = render_caddy(stack, "127.0.0.1:8000")
    assert sorted(nginx) == sorted(caddy) == ["example.net", "example.org"]
    routes = len(MEDIA_PATH_PREFIXES) + len(LOGOUT_PATHS) * bool(cache_seconds)
    for name, public_host in (("example.org", "example.org"), ("example.net", "example.net")):
        for prefix in MEDIA_PATH_PREFIXES:
            # ^~: a matching regex location (Synapse's) cannot take the path back.
            assert f"location ^~ {prefix} {{" in nginx[name]
            assert f"{prefix}*" in caddy[name]
        assert f"server_name {public_host} " in nginx[name]
        assert f"site block of {public_host}\n" in caddy[name]
        for header in ("Host", "X-Forwarded-Host"):
            assert nginx[name].count(f"proxy_set_header {header} {name};") == routes
            assert f"header_up {header} {name}" in caddy[name]
        assert nginx[name].count("proxy_pass http://127.0.0.1:8000;") == routes
        # Logouts go to MMR exactly when it caches tokens: exact locations, which regexes never beat.
        for path in LOGOUT_PATHS:
            assert (f"location = {path} {{" in nginx[name]) is bool(cache_seconds)
            assert (f" {path}" in caddy[name]) is bool(cache_seconds)


def test_reverse_proxy_output(ops: ProgramRun) -> None:
    proxy = ops.outputs["reverseProxy"]
    assert set(proxy) == {"nginx", "caddy"}
    assert "proxy_pass http://127.0.0.1:8000;" in proxy["nginx"]["example.org"]
    assert "client_max_body_size 51M;" in proxy["nginx"]["example.org"]
    assert "reverse_proxy 127.0.0.1:8000" in proxy["caddy"]["example.org"]


def labels_of(run: ProgramRun) -> dict[str, str]:
    """MMR's labels, but for the digest of what needs a restart (tests/test_program.py)."""
    container = run.one(CONTAINER, "mmr-dev").inputs
    labels = {label["label"]: label["value"] for label in container.get("labels", [])}
    labels.pop("org.matrix-media-repo.restart")
    return labels


def test_traefik_labels(ops: ProgramRun) -> None:
    labels = labels_of(ops)
    assert labels["traefik.enable"] == "true"
    assert labels["traefik.docker.network"] == "traefik"
    assert labels["traefik.http.services.mmr-dev.loadbalancer.server.port"] == "8000"
    rule = labels["traefik.http.routers.mmr-dev-0.rule"]
    assert rule.startswith("Host(`matrix.example.org`) && (")
    for prefix in MEDIA_PATH_PREFIXES:
        assert f"PathPrefix(`{prefix}`)" in rule
    assert f"PathRegexp(`{LOGOUT_PATH_REGEX}`)" in rule
    assert labels["traefik.http.routers.mmr-dev-0.entrypoints"] == "websecure,federation"
    assert labels["traefik.http.routers.mmr-dev-0.tls.certresolver"] == "letsencrypt"
    assert labels["traefik.http.routers.mmr-dev-0.middlewares"] == "mmr-dev-0-host"
    headers = "traefik.http.middlewares.mmr-dev-0-host.headers.customrequestheaders"
    assert labels[f"{headers}.X-Forwarded-Host"] == labels[f"{headers}.Host"] == "example.org"
    networks = [n["name"] for n in ops.one(CONTAINER, "mmr-dev").inputs["networksAdvanced"]]
    assert "traefik" in networks


def test_traefik_routes_each_homeserver_by_name_without_logouts_when_cache_is_off() -> None:
    config = {
        "homeservers": TWO_HOMESERVERS,
        "accessTokens": {"maxCacheTimeSeconds": 0},
        "proxy": {"traefik": {"enabled": True}},
    }
    labels = labels_of(run_program(config))
    assert labels["traefik.http.routers.mmr-dev-0.rule"].startswith("Host(`example.org`)")
    assert labels["traefik.http.routers.mmr-dev-1.rule"].startswith("Host(`example.net`)")
    assert all("logout" not in value for value in labels.values())
    assert "traefik.http.routers.mmr-dev-0.tls.certresolver" not in labels


def test_no_labels_without_traefik() -> None:
    assert labels_of(run_program(VARIANTS["dev"]())) == {}


def test_metrics_scrape_config(ops: ProgramRun) -> None:
    assert ops.outputs["metricsEndpoint"] == "http://127.0.0.1:9000/metrics"
    scrape = yaml.safe_load(ops.outputs["prometheusScrapeConfig"])
    assert scrape == {
        "scrape_configs": [
            {"job_name": "mmr-dev", "metrics_path": "/metrics", "static_configs": [{"targets": ["127.0.0.1:9000"]}]}
        ]
    }
    metrics = rendered(ops)["metrics"]
    assert metrics == {"enabled": True, "bindAddress": "0.0.0.0", "port": 9000}
    ports = ops.one(CONTAINER, "mmr-dev").inputs["ports"]
    assert {"internal": 9000, "external": 9000, "ip": "127.0.0.1"} in ports


def test_signing_key_is_uploaded_as_a_secret_and_configured(ops: ProgramRun) -> None:
    container = ops.one(CONTAINER, "mmr-dev-setup")
    [config_upload, key_upload] = container.raw_inputs["uploads"]
    assert config_upload["file"] == "/staging/repo__media-repo.yaml"
    assert key_upload["file"] == "/staging/signing-key-0.pem"
    # The setup script installs both into the config volume, where MMR reads them.
    assert "mv -f /config/.signing-key-0.pem.new /config/signing-key-0.pem" in container.inputs["command"][0]
    assert is_secret_marker(key_upload["content"])
    assert container.inputs["uploads"][1]["content"] == SIGNING_KEY
    assert container.inputs["uploads"][1]["permissions"] == "0400"
    assert rendered(ops)["homeservers"][0]["signingKeyPath"] == "/config/signing-key-0.pem"


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----", "not an MMR signing key"),
        (SIGNING_KEY.replace("Version: 1", "Version: 2"), "Version: 1"),
        (SIGNING_KEY.replace("Key-ID: ed25519:mmr1", "Key-ID: rsa:mmr1"), "Key-ID: ed25519"),
        (SIGNING_KEY.replace("bW1y", "!!!!"), "not base64"),
        (SIGNING_KEY.replace("bW1yLXRlc3Qt", ""), "where an ed25519 seed has 32"),
    ],
)
def test_bad_signing_keys_are_refused(key: str, problem: str) -> None:
    with pytest.raises(pulumi.RunError, match=r"matrix-media-repo:homeservers\[0\]\.signingKey .*" + problem):
        run_program({"homeservers": [{**HOMESERVER, "signingKey": key}]})


def test_signing_key_and_path_together_are_refused() -> None:
    config = {"homeservers": [{**HOMESERVER, "signingKey": SIGNING_KEY, "signingKeyPath": "/keys/a.key"}]}
    with pytest.raises(pulumi.RunError, match=r"homeservers\[0\]\.signingKey and signingKeyPath are both set"):
        run_program(config)


def test_plaintext_signing_key_and_import_password_are_warned_about(ops: ProgramRun) -> None:
    assert any("homeservers[0].signingKey is stored in plain text" in w for w in ops.warnings)
    assert any("import.dbPassword is stored in plain text" in w for w in ops.warnings)
    quiet = run_program(VARIANTS["operations"](), secret_keys=("homeservers", "import"))
    assert quiet.warnings == []


def test_redis_container_beside_mmr(ops: ProgramRun) -> None:
    redis = ops.one(CONTAINER, "mmr-dev-redis").inputs
    assert ops.one("docker:index/remoteImage:RemoteImage", "mmr-dev-redis-image").inputs["name"] == "redis:7.4.6-alpine"
    assert "ports" not in redis
    assert [n["name"] for n in redis["networksAdvanced"]] == ["mmr-dev-private"]
    # No empty value: the provider refuses one; Redis reads a --save before another option as "no saves".
    assert redis["command"] == [
        "redis-server", "--save", "--appendonly", "no", "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lfu"
    ]  # fmt: skip
    assert "/data" in redis["tmpfs"]
    assert rendered(ops)["redis"] == {
        "enabled": True,
        "databaseNumber": 2,
        "shards": [{"name": "redis", "addr": "mmr-dev-redis:6379"}],
    }
    media_repo = ops.one(CONTAINER, "mmr-dev")
    assert ops.one(CONTAINER, "mmr-dev-redis").urn in media_repo.dependencies


def test_external_redis_shards_start_no_container() -> None:
    config = {
        "homeservers": [HOMESERVER],
        "redis": {
            "enabled": True,
            "shards": [{"name": "a", "addr": "10.0.0.5:6379"}, {"name": "b", "addr": "cache:6380"}],
        },
    }
    run = run_program(config)
    assert [c.name for c in run.of_type(CONTAINER) if c.name.endswith("redis")] == []
    assert rendered(run)["redis"]["shards"] == [
        {"name": "a", "addr": "10.0.0.5:6379"},
        {"name": "b", "addr": "cache:6380"},
    ]


@pytest.mark.parametrize(
    ("redis", "key", "problem"),
    [
        (
            {"enabled": True, "shards": [{"name": "a", "addr": "redis://:pw@cache:6379"}]},
            "redis.shards[0].addr",
            "TLS nor AUTH",
        ),
        ({"enabled": True, "shards": [{"name": "a", "addr": "cache"}]}, "redis.shards[0].addr", "host:port"),
        ({"shards": [{"name": "a", "addr": "cache:6379"}]}, "redis.enabled", "redis.enabled is false"),
        ({"enabled": True, "databaseNumber": 16}, "redis.databaseNumber", "less than or equal to 15"),
        ({"enabled": True, "image": "redis:latest"}, "redis.image", "not pinned"),
    ],
)
def test_bad_redis_settings(redis: dict, key: str, problem: str) -> None:
    with pytest.raises(pulumi.RunError, match=rf"matrix-media-repo:{re.escape(key)} .*{problem}"):
        run_program({"homeservers": [HOMESERVER], "redis": redis})


def test_import_runs_once_with_every_flag_and_no_password_in_sight(ops: ProgramRun) -> None:
    importer = ops.one(CONTAINER, "mmr-dev-import")
    inputs = importer.inputs
    assert inputs["entrypoints"] == [
        "/bin/sh",
        "-c",
        'exec su-exec 10001:10001 import_synapse -dbPassword="$(cat /etc/media-repo-import-db-password)" "$@"',
        "import_synapse",
    ]
    assert inputs["command"] == [
        "-dbHost=synapse-postgres",
        "-dbPort=5432",
        "-dbName=synapse",
        "-dbUsername=synapse",
        "-serverName=example.org",
        "-baseUrl=http://synapse:8008",
        "-workers=4",
    ]
    assert "MACHINE_ID=1" in inputs["envs"] and "REPO_CONFIG=/config/repo" in inputs["envs"]
    assert inputs["mustRun"] is False
    # Root only to read the password upload (root's, whatever its owner says), then su-exec to MMR's user.
    assert inputs["user"] == "0:0"
    assert inputs["capabilities"] == {"drops": ["ALL"], "adds": ["CAP_SETGID", "CAP_SETUID"]}
    [password_upload] = importer.raw_inputs["uploads"]
    assert is_secret_marker(password_upload["content"])
    # Percent-encoded: the importer pastes it into a postgres:// URL unescaped.
    assert inputs["uploads"][0]["content"] == quote(IMPORT_DB_PASSWORD, safe="")
    assert [(m["source"], m["target"], m["readOnly"]) for m in inputs["mounts"]] == [
        ("mmr-dev-media", "/media", False),
        ("mmr-dev-config", "/config", True),
    ]
    # MMR's config is read from its volume, not uploaded: a config change does not re-run the import.
    assert importer.ignore_changes == []
    for text in plain_strings(importer.raw_inputs):
        assert IMPORT_DB_PASSWORD not in text and quote(IMPORT_DB_PASSWORD, safe="") not in text
    assert ops.one(CONTAINER, "mmr-dev").urn in importer.dependencies


def test_import_command_output(ops: ProgramRun) -> None:
    assert ops.outputs["importCommand"] == (
        "docker exec -it -e MACHINE_ID=1 mmr-dev import_synapse -dbHost=synapse-postgres -dbPort=5432 "
        "-dbName=synapse -dbUsername=synapse -serverName=example.org -baseUrl=http://synapse:8008 -workers=4"
    )
    assert "importCommand" not in ops.secret_outputs


def test_dendrite_import_uses_its_importer() -> None:
    config = VARIANTS["operations"]()
    config["import"] = {**config["import"], "from": "dendrite"}
    run = run_program(config)
    assert run.one(CONTAINER, "mmr-dev-import").inputs["entrypoints"][-1] == "import_dendrite"


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"from": "conduit"}, "import.from", "'synapse' or 'dendrite'"),
        ({"serverName": "other.org"}, "import.serverName", "not among the homeservers"),
        ({"baseUrl": "synapse:8008"}, "import.baseUrl", "http\\(s\\) URL"),
        ({"dbUsername": "syn apse"}, "import.dbUsername", "does not escape it"),
        ({"dbHost": "db:5432"}, "import.dbHost", "host name or IP"),
        ({"workers": 0}, "import.workers", "greater than or equal to 1"),
    ],
)
def test_bad_import_settings(change: dict, key: str, problem: str) -> None:
    config = VARIANTS["operations"]()
    config["import"] = {**config["import"], **change}
    with pytest.raises(pulumi.RunError, match=rf"matrix-media-repo:{key} .*{problem}"):
        run_program(config)


def test_further_settings_are_rendered(ops: ProgramRun) -> None:
    document = rendered(ops)
    assert document["sharedSecretAuth"] == {"enabled": True, "token": MOCK_PASSWORD}
    assert ops.outputs["sharedSecretToken"] == MOCK_PASSWORD
    assert "sharedSecretToken" in ops.secret_outputs
    assert document["uploads"] == {
        "maxBytes": 52428800,
        "quotas": {
            "enabled": True,
            "users": [{"glob": "@*:example.org", "maxBytes": 1073741824, "maxPending": 0, "maxFiles": 0}],
        },
    }
    assert document["downloads"] == {"maxBytes": 209715200}
    assert document["urlPreviews"] == {"enabled": False}
    assert document["federation"] == {"ignoredHosts": ["spam.example"], "allowedNetworks": ["0.0.0.0/0", "::/0"]}
    assert document["repo"]["freezeUnauthenticatedMedia"] is True


def test_further_settings_are_absent_by_default() -> None:
    document = rendered(run_program({**VARIANTS["dev"](), "smokeTest": {"enabled": False}}))
    for section in ("sharedSecretAuth", "uploads", "downloads", "urlPreviews", "federation", "redis"):
        assert section not in document
    # Rendered although it is the default: MMR's own default flipped between v1.3.7 and v1.3.8.
    assert document["repo"]["freezeUnauthenticatedMedia"] is True


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"uploads": {"maxBytes": -1}}, "uploads.maxBytes", "greater than or equal to 0"),
        ({"downloads": {"maxBytes": "big"}}, "downloads.maxBytes", "valid integer"),
        ({"federation": {"ignoredHosts": ["https://spam.example"]}}, "federation.ignoredHosts", "server name"),
        ({"urlPreviews": {"enabled": "maybe"}}, "urlPreviews.enabled", "true or false"),
        ({"proxy": {"traefik": {"enabled": True, "host": "x.org"}}}, "proxy.traefik.host", "homeservers.*publicHost"),
        ({"sharedSecretAuth": {"token": "abc"}}, "sharedSecretAuth.token", "not a setting"),
    ],
)
def test_bad_further_settings(change: dict, key: str, problem: str) -> None:
    with pytest.raises(pulumi.RunError, match=rf"matrix-media-repo:{key}\S* .*{problem}"):
        run_program({"homeservers": [HOMESERVER], **change})


def test_two_homeservers_cannot_share_a_public_host() -> None:
    homeservers = [{**homeserver, "publicHost": "matrix.example.org"} for homeserver in TWO_HOMESERVERS]
    with pytest.raises(pulumi.RunError, match=r"matrix-media-repo:homeservers\[1\].publicHost 'matrix.example.org'"):
        run_program({"homeservers": homeservers})


# Traefik v3's rule grammar (doc.traefik.io, "Rules & Priority", v3.8): matchers with backtick values, joined by
# && and || with parentheses. Only the matchers the labels use are listed.
_TRAEFIK_TOKEN = re.compile(r"\s*(?:(Host|PathPrefix|PathRegexp)\(`([^`]*)`\)|(&&|\|\||\(|\)))")


def test_traefik_rules_follow_the_v3_grammar(ops: ProgramRun) -> None:
    rules = [value for key, value in labels_of(ops).items() if key.endswith(".rule")]
    assert rules
    for rule in rules:
        position, depth, tokens = 0, 0, []
        while position < len(rule):
            token = _TRAEFIK_TOKEN.match(rule, position)
            assert token, f"not v3 rule syntax at {rule[position:]!r}"
            matcher, value, operator = token.groups()
            if matcher == "PathRegexp":
                re.compile(value)  # Go's RE2 syntax; these patterns mean the same in Python's
            depth += {"(": 1, ")": -1}.get(operator or "", 0)
            assert depth >= 0, rule
            tokens.append(matcher or operator)
            position = token.end()
        assert depth == 0, rule
        # Matchers and operators alternate: no two matchers without an operator between them.
        bare = [token for token in tokens if token not in ("(", ")")]
        assert all((index % 2 == 0) == (token not in ("&&", "||")) for index, token in enumerate(bare)), rule
