"""S3 on AWS, Spaces and external buckets, and Postgres on DigitalOcean or an external server, under mocks."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import yaml

from config_schema.s3_policy import bucket_access_policy
from tests.pulumi_harness import (
    MOCK_AWS_SECRET,
    MOCK_DO_USER_PASSWORD,
    MOCK_SPACES_SECRET,
    ProgramRun,
    is_secret_marker,
    run_program,
)
from tests.upstream_keys import upstream_violations
from tests.variants import EXTERNAL_DSN, EXTERNAL_S3_SECRET, PROVIDER_CONFIG, VARIANTS

CONTAINER = "docker:index/container:Container"
S3_OUTPUTS = {"bucketName", "s3Endpoint", "s3Region", "s3AccessKeyId", "s3SecretAccessKey"}


def s3_datastore(run: ProgramRun) -> dict:
    document = yaml.safe_load(run.outputs["mediaRepoConfig"])
    assert upstream_violations(document) == []
    [s3] = [d for d in document["datastores"] if d["type"] == "s3"]
    return s3


@pytest.fixture(scope="module")
def aws() -> ProgramRun:
    return run_program(VARIANTS["aws"]())


@pytest.fixture(scope="module")
def digitalocean() -> ProgramRun:
    return run_program(VARIANTS["digitalocean"](), extra_config=PROVIDER_CONFIG["digitalocean"])


@pytest.fixture(scope="module")
def external() -> ProgramRun:
    return run_program(VARIANTS["external"](), secret_keys=("s3", "database"))


def test_aws_bucket_is_private_encrypted_and_protected(aws: ProgramRun) -> None:
    bucket = aws.one("aws:s3/bucket:Bucket")
    assert bucket.protect and bucket.retain_on_delete
    assert bucket.inputs["bucket"] == "example-org-media"
    assert bucket.inputs["forceDestroy"] is False
    assert bucket.inputs["region"] == "eu-central-1"
    block = aws.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[flag] is True
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    ownership = aws.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    [encryption] = aws.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert encryption["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    [aborts, expires] = aws.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert aborts["status"] == expires["status"] == "Enabled"
    assert aborts["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    # Versioned by default: what MMR, a bug or a leaked key deletes stays recoverable for 30 days.
    versioning = aws.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    assert expires["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert expires["filter"] == {"prefix": ""}


def test_versioning_can_be_turned_off_and_its_window_set() -> None:
    run = run_program({**VARIANTS["aws"](), "s3": {**VARIANTS["aws"]()["s3"], "versioning": False}})
    assert run.of_type("aws:s3/bucketVersioning:BucketVersioning") == []
    [rule] = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert "noncurrentVersionExpiration" not in rule
    run = run_program({**VARIANTS["aws"](), "s3": {**VARIANTS["aws"]()["s3"], "noncurrentVersionExpirationDays": 90}})
    rules = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert rules[1]["noncurrentVersionExpiration"] == {"noncurrentDays": 90}


def test_aws_key_may_touch_its_bucket_only(aws: ProgramRun) -> None:
    policy = json.loads(aws.one("aws:iam/userPolicy:UserPolicy", "mmr-dev-policy").inputs["policy"])
    assert policy == bucket_access_policy("arn:aws:s3:::example-org-media")
    resources = [resource for statement in policy["Statement"] for resource in statement["Resource"]]
    assert resources == ["arn:aws:s3:::example-org-media/*", "arn:aws:s3:::example-org-media"]
    actions = [action for statement in policy["Statement"] for action in statement["Action"]]
    assert all(action.startswith("s3:") and "*" not in action for action in actions)
    user = aws.one("aws:iam/user:User", "mmr-dev-user").inputs["name"]
    assert aws.one("aws:iam/accessKey:AccessKey", "mmr-dev-key").inputs["user"] == user


def test_aws_outputs_and_datastore_opts(aws: ProgramRun) -> None:
    assert set(aws.outputs) >= S3_OUTPUTS
    assert aws.outputs["s3Endpoint"] == "s3.eu-central-1.amazonaws.com"
    assert aws.outputs["s3Region"] == "eu-central-1"
    assert aws.outputs["bucketName"] == "example-org-media"
    assert aws.outputs["s3AccessKeyId"] == "AKIAMOCKMEDIAREPO000"
    assert aws.outputs["s3SecretAccessKey"] == MOCK_AWS_SECRET
    assert "s3SecretAccessKey" in aws.secret_outputs and "s3AccessKeyId" not in aws.secret_outputs
    assert aws.outputs["datastoreIds"] == {"file": "file", "s3": "s3"}
    assert s3_datastore(aws) == {
        "id": "s3",
        "type": "s3",
        "forKinds": ["local_media", "remote_media"],
        "opts": {
            "endpoint": "s3.eu-central-1.amazonaws.com",
            "bucketName": "example-org-media",
            "region": "eu-central-1",
            "accessKeyId": "AKIAMOCKMEDIAREPO000",
            "accessSecret": MOCK_AWS_SECRET,
            "ssl": "true",
            "tempPath": "/tmp/mmr-s3",
            "prefixLength": "2",
        },
    }


def test_aws_region_defaults_to_the_providers() -> None:
    config = VARIANTS["aws"]()
    del config["s3"]["region"], config["s3"]["bucketName"]
    run = run_program(config)
    assert run.outputs["s3Region"] == "eu-central-1"  # what the mock's aws:getRegion answers
    assert run.outputs["s3Endpoint"] == "s3.eu-central-1.amazonaws.com"
    # Without a name, Pulumi picks one once and keeps it in state.
    assert "bucket" not in run.one("aws:s3/bucket:Bucket").inputs


def test_aws_versioning_kms_and_unprotected_on_request() -> None:
    config = VARIANTS["aws"]()
    config["s3"].update(versioning=True, encryption="aws:kms", protect=False)
    run = run_program(config)
    assert run.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {
        "status": "Enabled"
    }
    [encryption] = run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert encryption["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms"}
    bucket = run.one("aws:s3/bucket:Bucket")
    assert not bucket.protect
    assert bucket.inputs["forceDestroy"] is False  # unprotected still never empties media


def test_spaces_bucket_and_single_grant_key(digitalocean: ProgramRun) -> None:
    space = digitalocean.one("digitalocean:index/spacesBucket:SpacesBucket")
    assert space.protect
    assert space.inputs["acl"] == "private"
    assert space.inputs["region"] == "ams3"
    assert space.inputs["forceDestroy"] is False
    assert space.inputs["versioning"] == {"enabled": True}
    [rule] = space.inputs["lifecycleRules"]
    assert rule["noncurrentVersionExpiration"] == {"days": 30}
    key = digitalocean.one("digitalocean:index/spacesKey:SpacesKey").inputs
    assert key["grants"] == [{"bucket": "example-org-media", "permission": "readwrite"}]
    opts = s3_datastore(digitalocean)["opts"]
    assert opts["endpoint"] == "ams3.digitaloceanspaces.com"
    assert (opts["region"], opts["ssl"]) == ("ams3", "true")
    assert (opts["accessKeyId"], opts["accessSecret"]) == ("DOMOCKSPACESKEY", MOCK_SPACES_SECRET)
    assert "s3SecretAccessKey" in digitalocean.secret_outputs


def test_managed_postgres_cluster(digitalocean: ProgramRun) -> None:
    cluster = digitalocean.one("digitalocean:index/databaseCluster:DatabaseCluster")
    assert cluster.protect and cluster.retain_on_delete
    assert cluster.inputs["engine"] == "pg"
    assert (cluster.inputs["version"], cluster.inputs["region"], cluster.inputs["nodeCount"]) == ("17", "ams3", 1)
    assert cluster.inputs["size"] == "db-s-1vcpu-1gb"
    assert digitalocean.one("digitalocean:index/databaseDb:DatabaseDb").inputs["name"] == "mediarepo"
    assert digitalocean.one("digitalocean:index/databaseUser:DatabaseUser").inputs["name"] == "mediarepo"
    firewall = digitalocean.one("digitalocean:index/databaseFirewall:DatabaseFirewall").inputs
    assert firewall["rules"] == [{"type": "ip_addr", "value": "203.0.113.10"}]
    # No Postgres container beside MMR.
    assert sorted(c.name for c in digitalocean.of_type(CONTAINER)) == [
        "mmr-dev",
        "mmr-dev-config-applied",
        "mmr-dev-grant",
        "mmr-dev-setup",
        "mmr-dev-smoke",
    ]


def test_managed_postgres_user_may_create_tables(digitalocean: ProgramRun) -> None:
    grant = digitalocean.one(CONTAINER, "mmr-dev-grant")
    command = grant.inputs["command"]
    assert command[-1] == '--command=GRANT CREATE, USAGE ON SCHEMA public TO "mediarepo"'
    assert "--dbname=mediarepo" in command and "--username=doadmin" in command
    assert grant.inputs["mustRun"] is False
    assert "PGPASSFILE=/root/.pgpass" in grant.inputs["envs"]
    [upload] = grant.raw_inputs["uploads"]
    assert is_secret_marker(upload["content"])
    assert grant.inputs["uploads"][0]["permissions"] == "0600"
    # MMR starts only once its user can run migrations.
    media_repo = digitalocean.one(CONTAINER, "mmr-dev")
    assert grant.urn in media_repo.dependencies


def test_managed_postgres_dsn(digitalocean: ProgramRun) -> None:
    expected = (
        f"postgres://mediarepo:{quote(MOCK_DO_USER_PASSWORD, safe='')}"
        "@mmr-db-do-user-0.db.ondigitalocean.com:25060/mediarepo?sslmode=require"
    )
    assert digitalocean.outputs["databaseDsn"] == expected
    assert "databaseDsn" in digitalocean.secret_outputs
    assert digitalocean.outputs["databaseHost"] == "mmr-db-do-user-0.db.ondigitalocean.com:25060"
    assert yaml.safe_load(digitalocean.outputs["mediaRepoConfig"])["database"]["postgres"] == expected


def test_external_backends_create_nothing_in_a_cloud(external: ProgramRun) -> None:
    types = {r.type.split(":")[0] for r in external.registrations if r.custom}
    # random: the homeserver's generated signing key, which lives in the stack's state only.
    assert types == {"docker", "random"}
    assert [c.name for c in external.of_type(CONTAINER) if c.name.endswith("postgres")] == []
    assert external.outputs["databaseDsn"] == EXTERNAL_DSN
    assert external.outputs["databaseHost"] == "db.example.org:5432"
    assert external.outputs["s3Endpoint"] == "minio.example.org:9000"
    assert external.outputs["s3SecretAccessKey"] == EXTERNAL_S3_SECRET
    assert {"databaseDsn", "s3SecretAccessKey", "mediaRepoConfig"} <= external.secret_outputs
    opts = s3_datastore(external)["opts"]
    assert opts["ssl"] == "true"  # given as "yes"
    assert opts["multipartUploads"] == "false"  # given as "off"


def test_s3_removed_from_every_kind_stays_readable() -> None:
    config = VARIANTS["aws"]()
    config["datastores"] = {"s3": {"forKinds": []}}
    run = run_program(config)
    assert s3_datastore(run)["forKinds"] == []
    # The bucket and its media stay; MMR keeps reading what it stored there.
    assert run.one("aws:s3/bucket:Bucket").protect
    assert run.outputs["datastoreIds"] == {"file": "file", "s3": "s3"}


def test_no_s3_config_creates_no_bucket() -> None:
    run = run_program(VARIANTS["dev"]())
    assert not [r for r in run.registrations if r.type.startswith(("aws:", "digitalocean:"))]
    assert not S3_OUTPUTS & set(run.outputs)
