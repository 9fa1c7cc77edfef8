"""``database.provider: aws``: the RDS instance, its fence, MMR's role in it, and what is refused.

The Pulumi side runs under mocks: moto emulates RDS and EC2's API, but the provider plugin that would
call it cannot run here, so the resources are checked as registered. The grant script runs for real,
with psql, against a PostgreSQL server as a non-superuser admin shaped like RDS's.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pulumi
import pytest

from config_schema import StackConfigError, load_stack_config
from config_schema.database import connection_warning
from config_schema.rds import connection_limit, grant_script, rds_name
from tests.kubernetes_stacks import one as kubernetes_one
from tests.kubernetes_stacks import run_variant as run_kubernetes_variant
from tests.postgres_server import PostgresServer, find_postgres_bin_dir
from tests.pulumi_harness import MOCK_PASSWORD, MOCK_VPC, ProgramRun, is_secret_marker, run_program
from tests.variants import HOMESERVER, VARIANTS

INSTANCE = "aws:rds/instance:Instance"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
CONTAINER = "docker:index/container:Container"


def rds_stack(**database: Any) -> dict[str, Any]:
    config = VARIANTS["aws-rds"]()
    config["database"] = {**config["database"], **database}
    return config


@pytest.fixture(scope="module")
def private() -> ProgramRun:
    return run_program(VARIANTS["aws-rds"]())


@pytest.fixture(scope="module")
def public() -> ProgramRun:
    return run_program(
        rds_stack(
            aws={"publiclyAccessible": True},
            trustedSources=[{"type": "ip_addr", "value": "203.0.113.10"}, {"type": "ip_addr", "value": "2001:db8::7"}],
        )
    )


def test_the_instance_is_encrypted_backed_up_and_hard_to_delete(private: ProgramRun) -> None:
    instance = private.one(INSTANCE, "mmr-dev-rds")
    inputs = instance.inputs
    assert inputs["engine"] == "postgres" and inputs["engineVersion"] == "17"
    assert inputs["instanceClass"] == "db.t4g.micro"
    assert inputs["storageType"] == "gp3"
    assert inputs["allocatedStorage"] == 20 and inputs["maxAllocatedStorage"] == 100
    assert inputs["storageEncrypted"] is True
    assert inputs["backupRetentionPeriod"] >= 7
    assert inputs["deletionProtection"] is True
    assert inputs["skipFinalSnapshot"] is False
    assert inputs["finalSnapshotIdentifier"] == "mmr-dev-final-0a1b2c3d"
    # Point-in-time backups outlive the instance: the provider's default would delete them with it.
    assert inputs["deleteAutomatedBackups"] is False
    assert inputs["autoMinorVersionUpgrade"] is True and inputs["allowMajorVersionUpgrade"] is True
    assert inputs["applyImmediately"] is False
    assert inputs["maintenanceWindow"] == "sun:03:00-sun:04:00" and inputs["backupWindow"] == "02:00-02:30"
    assert inputs["performanceInsightsEnabled"] is False
    assert inputs["publiclyAccessible"] is False
    assert inputs["copyTagsToSnapshot"] is True
    assert instance.protect and instance.retain_on_delete


def test_every_setting_reaches_the_instance() -> None:
    run = run_program(
        rds_stack(
            postgresVersion="16",
            aws={
                "instanceClass": "db.m7g.large",
                "allocatedStorageGb": 50,
                "maxAllocatedStorageGb": 500,
                "backupRetentionDays": 14,
                "backupWindow": "01:00-01:30",
                "maintenanceWindow": "Sat:04:00-Sat:05:00",
                "multiAz": True,
                "performanceInsights": True,
                "subnetIds": ["subnet-0c0000000000000c3", "subnet-0d0000000000000d4"],
            },
        )
    )
    inputs = run.one(INSTANCE, "mmr-dev-rds").inputs
    assert (inputs["engineVersion"], inputs["instanceClass"]) == ("16", "db.m7g.large")
    assert (inputs["allocatedStorage"], inputs["maxAllocatedStorage"]) == (50, 500)
    assert (inputs["backupRetentionPeriod"], inputs["backupWindow"]) == (14, "01:00-01:30")
    assert inputs["maintenanceWindow"] == "sat:04:00-sat:05:00"
    assert inputs["multiAz"] is True and inputs["performanceInsightsEnabled"] is True
    subnets = run.one("aws:rds/subnetGroup:SubnetGroup", "mmr-dev-rds").inputs["subnetIds"]
    assert subnets == ["subnet-0c0000000000000c3", "subnet-0d0000000000000d4"]
    group = run.one("aws:rds/parameterGroup:ParameterGroup", "mmr-dev-rds-16").inputs
    assert group["family"] == "postgres16"


def test_tls_is_forced_and_the_dsn_asks_for_it(private: ProgramRun) -> None:
    registered = private.one("aws:rds/parameterGroup:ParameterGroup", "mmr-dev-rds-17")
    assert registered.retain_on_delete
    group = registered.inputs
    assert group["family"] == "postgres17"
    assert [(p["name"], p["value"]) for p in group["parameters"]] == [("rds.force_ssl", "1")]
    assert private.outputs["databaseDsn"].endswith("?sslmode=require")
    assert private.outputs["databaseDsn"].startswith("postgres://mediarepo:")
    assert "databaseDsn" in private.secret_outputs


def test_a_private_instance_admits_its_vpc_on_5432_only(private: ProgramRun) -> None:
    group = private.one(SECURITY_GROUP, "mmr-dev-rds").inputs
    assert group["vpcId"] == MOCK_VPC["id"]
    assert group["egress"] == []
    [rule] = group["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 5432, 5432)
    assert rule["cidrBlocks"] == [MOCK_VPC["cidrBlock"]]
    assert private.one("aws:rds/subnetGroup:SubnetGroup", "mmr-dev-rds").inputs["subnetIds"] == MOCK_VPC["subnets"]


def test_a_public_instance_admits_the_trusted_sources_and_nothing_else(public: ProgramRun) -> None:
    assert public.one(INSTANCE, "mmr-dev-rds").inputs["publiclyAccessible"] is True
    group = public.one(SECURITY_GROUP, "mmr-dev-rds").inputs
    admitted = [
        cidr for rule in group["ingress"] for cidr in rule.get("cidrBlocks", []) + rule.get("ipv6CidrBlocks", [])
    ]
    assert admitted == ["203.0.113.10/32", "2001:db8::7/128"]
    assert all((rule["fromPort"], rule["toPort"]) == (5432, 5432) for rule in group["ingress"])
    assert group["egress"] == []


def test_nothing_reaches_the_world_in_any_aws_database_stack(private: ProgramRun, public: ProgramRun) -> None:
    for run in (private, public):
        for rule in run.one(SECURITY_GROUP, "mmr-dev-rds").inputs["ingress"]:
            for cidr in rule.get("cidrBlocks", []) + rule.get("ipv6CidrBlocks", []):
                assert ipaddress.ip_network(cidr).prefixlen >= 8, cidr


def test_a_cluster_is_admitted_by_its_security_group() -> None:
    run = run_kubernetes_variant("aws-rds")
    [rule] = run.one(SECURITY_GROUP, "mmr-prod-rds").inputs["ingress"]
    assert rule["securityGroups"] == ["sg-0a1b2c3d4e5f60718"] and not rule.get("cidrBlocks")


@pytest.mark.parametrize(
    ("database", "key"),
    [
        ({"trustedSources": [{"type": "ip_addr", "value": "0.0.0.0/0"}]}, "database.trustedSources[0].value"),
        ({"trustedSources": [{"type": "ip_addr", "value": "::/0"}]}, "database.trustedSources[0].value"),
        ({"trustedSources": [{"type": "ip_addr", "value": "10.0.0.0/4"}]}, "database.trustedSources[0].value"),
        ({"aws": {"publiclyAccessible": True}}, "database.aws.publiclyAccessible"),
        (
            {
                "aws": {"publiclyAccessible": True},
                "trustedSources": [{"type": "security_group", "value": "sg-0a1b2c3d"}],
            },
            "database.aws.publiclyAccessible",
        ),
        ({"trustedSources": [{"type": "droplet", "value": "123"}]}, "database.trustedSources[0].type"),
        ({"trustedSources": [{"type": "security_group", "value": "default"}]}, "database.trustedSources[0].value"),
        ({"postgresVersion": "12"}, "database.postgresVersion"),
        ({"aws": {"backupRetentionDays": 3}}, "database.aws.backupRetentionDays"),
        ({"aws": {"maxAllocatedStorageGb": 20, "allocatedStorageGb": 50}}, "database.aws.maxAllocatedStorageGb"),
        ({"aws": {"backupWindow": "2am"}}, "database.aws.backupWindow"),
        ({"aws": {"maintenanceWindow": "sunday"}}, "database.aws.maintenanceWindow"),
        ({"aws": {"subnetIds": ["subnet-0a0000000000000a1"]}}, "database.aws.subnetIds"),
        ({"aws": {"instanceClass": "t4g.micro"}}, "database.aws.instanceClass"),
        ({"user": "mmr_admin"}, "database.user"),
    ],
)
def test_what_cannot_work_or_admits_the_world_is_refused(database: dict[str, Any], key: str) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        run_program(rds_stack(**database))
    message = str(caught.value)
    assert f"matrix-media-repo:{key} " in message and "Fix: " in message and "\n" not in message


def test_a_private_instance_on_kubernetes_needs_the_vpc_opened_in_the_egress_policy() -> None:
    from tests.kubernetes_stacks import variant

    config = variant(database={"provider": "aws"})
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(config)
    assert "matrix-media-repo:kubernetes.networkPolicy.egressCidrs is empty" in str(caught.value)
    # The VPC's range is the operator's to give (the default VPC's is named); the fix asks for it.
    assert "the default VPC's is 172.31.0.0/16" in str(caught.value)
    assert str(caught.value).endswith("Fix: pulumi config set --path 'kubernetes.networkPolicy.egressCidrs[0]'")


def test_aws_settings_on_another_provider_are_refused() -> None:
    with pytest.raises(StackConfigError, match=r"database\.aws is only read with database.provider aws"):
        load_stack_config({"homeservers": [HOMESERVER], "database": {"aws": {"multiAz": True}}})


def test_credentials_are_secret_from_birth(private: ProgramRun) -> None:
    instance = private.one(INSTANCE, "mmr-dev-rds")
    assert is_secret_marker(instance.raw_inputs["password"])
    grant = private.one(CONTAINER, "mmr-dev-grant")
    uploads = {upload["file"]: upload for upload in grant.raw_inputs["uploads"]}
    assert set(uploads) == {"/root/.pgpass", "/root/grant.sql"}
    assert all(is_secret_marker(upload["content"]) for upload in uploads.values())
    assert {upload["file"]: upload["permissions"] for upload in grant.inputs["uploads"]} == {
        "/root/.pgpass": "0600",
        "/root/grant.sql": "0600",
    }
    # Neither password is in the command, the env or the labels.
    shown = str(grant.inputs["command"]) + str(grant.inputs["envs"]) + str(grant.inputs.get("labels"))
    assert MOCK_PASSWORD not in shown
    assert grant.inputs["command"][-1] == "--file=/root/grant.sql"
    assert "--dbname=postgres" in grant.inputs["command"] and "--username=mmr_admin" in grant.inputs["command"]
    # MMR starts only once its role and database exist.
    assert grant.urn in private.one(CONTAINER, "mmr-dev").dependencies


def test_the_kubernetes_grant_reads_its_script_from_the_secret() -> None:
    run = run_kubernetes_variant("aws-rds")
    job = kubernetes_one(run, "Job", "mmr-prod-grant")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-1] == "--file=/run/secrets/grant/grant.sql"
    [volume] = job["spec"]["template"]["spec"]["volumes"]
    assert volume["secret"]["items"] == [{"key": "grant.sql", "path": "grant.sql", "mode": 0o440}]
    assert MOCK_PASSWORD not in str(job)


def test_outputs_name_the_instance_and_its_restore(private: ProgramRun) -> None:
    assert private.outputs["databaseInstanceId"] == "mmr-dev"
    assert private.outputs["databaseHost"] == "mmr-dev.c0a1b2c3d4e5.eu-central-1.rds.amazonaws.com:5432"
    restore = private.outputs["databaseRestoreCommand"]
    assert restore.startswith("aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier mmr-dev ")
    assert "--vpc-security-group-ids sg-0mock0rds0000000" in restore


def test_rds_names_follow_the_providers_rules() -> None:
    for stack in ("dev", "prod_2", "9lives", "a--b", "x" * 80, "mmr-dev."):
        name = rds_name(f"mmr-{stack}") if not stack[0].isdigit() else rds_name(stack)
        assert name[0].isalpha() and "--" not in name and not name.endswith("-") and len(name) <= 63, name
        assert all(c.isalnum() or c == "-" for c in name), name


def test_the_connection_budget_covers_rds() -> None:
    # db.t4g.micro: 1 GiB / 9531392 = 112, less RDS's 5 reserved.
    assert connection_limit("db.t4g.micro") == 107
    assert connection_limit("db.unknown.size") is None
    database = load_stack_config(rds_stack(maxConnections=60)).database
    assert connection_warning(database, 2) is not None and "database.aws.instanceClass" in str(
        connection_warning(database, 2)
    )
    assert connection_warning(database, 1) is None


def _psql(server: PostgresServer, user: str, password: str, script: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = find_postgres_bin_dir()
    assert bin_dir is not None
    environment = {**os.environ, "PGPASSWORD": password, "PGHOST": server.host, "PGPORT": str(server.port)}
    return subprocess.run(
        [str(bin_dir / "psql"), "-v", "ON_ERROR_STOP=1", f"--username={user}", "--dbname=postgres", f"--file={script}"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_grant_script_gives_mmr_its_own_database_as_an_rds_admin_would(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    # RDS's master user is no superuser: CREATEROLE and CREATEDB (member of rds_superuser).
    admin, admin_password = "rds_shaped_admin", "admin-pw"
    with psycopg.connect(postgres_server.admin_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS mmr_rds_db")
        conn.execute("DROP ROLE IF EXISTS mmr_rds_role")
        conn.execute(f"DROP ROLE IF EXISTS {admin}")
        conn.execute(f"CREATE ROLE {admin} LOGIN CREATEROLE CREATEDB PASSWORD '{admin_password}'")
    password = "it's a pass:word/with?odd#chars%"
    script = tmp_path / "grant.sql"
    script.write_text(grant_script("mmr_rds_role", password, "mmr_rds_db"))
    # Twice: a re-run of the one-shot changes nothing and fails nothing.
    for _ in range(2):
        result = _psql(postgres_server, admin, admin_password, script)
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout + result.stderr
    mmr = f"host={postgres_server.host} port={postgres_server.port} dbname=mmr_rds_db user=mmr_rds_role"
    with psycopg.connect(mmr, password=password, autocommit=True) as conn:
        # What MMR's migrations do: tables in public.
        conn.execute("CREATE TABLE IF NOT EXISTS media (id text PRIMARY KEY)")
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'mmr_rds_db'")
        assert owner.fetchone() == ("mmr_rds_role",)
        flags = conn.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        assert flags.fetchone() == (False, False, False)
    # Nobody else may connect to MMR's database.
    with psycopg.connect(postgres_server.admin_dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS mmr_rds_other")
        conn.execute("CREATE ROLE mmr_rds_other LOGIN PASSWORD 'other'")
    other = f"host={postgres_server.host} port={postgres_server.port} dbname=mmr_rds_db user=mmr_rds_other"
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(other, password="other").close()
