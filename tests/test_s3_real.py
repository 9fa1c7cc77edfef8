"""MMR's access key against a real S3 API: a moto server with IAM authorization enforced.

The policy dict can look right and still fail where it counts: an action name
S3 spells differently, a resource ARN without ``/*``, a grant that also
reaches other buckets. So the key is created the way the program creates it
(an IAM user with ``bucket_access_policy`` as its inline policy) and then used
for what MMR does, and for what it must not be able to do.

IAM enforcement in moto 5.2.5: every authenticated request first checks
``ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT``
(``moto/core/authorization.py``); below the threshold the request is free and
only counted. ``POST /moto-api/reset-auth`` with a number as body sets the
threshold and zeroes the count (``moto/moto_api/_internal/responses.py``). The
fixture posts ``inf`` before the admin set-up and ``0`` right after it, so
from then on every request must be signed by a key that exists in moto's IAM
and be allowed by that user's policies. The ``INITIAL_NO_AUTH_ACTION_COUNT``
environment variable is not used: moto reads it once, at import, which may
already have happened in this process.
"""

from __future__ import annotations

import io
import json
import os
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from minio import Minio
from minio.error import S3Error
from moto.server import ThreadedMotoServer

from config_schema import load_stack_config
from config_schema.backup import S3_PREFIX
from config_schema.media_repo import S3Connection, s3_datastore_opts
from config_schema.s3_policy import backup_upload_policy, bucket_access_policy

REGION = "us-east-1"
MEDIA_BUCKET = "mmr-media"
OTHER_BUCKET = "someone-elses-bucket"
OTHER_KEY = "private/report.txt"
OTHER_BODY = b"not for MMR"
SENTINEL_KEY = "sentinel"
MMR_USER = "mmr-media-repo"
ADMIN_USER = "test-admin"
BACKUP_USER = "mmr-backup-uploader"
# S3's smallest part except the last one; moto enforces it on complete.
MIN_PART_SIZE = 5 * 1024 * 1024


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class MotoS3:
    host_port: str
    endpoint_url: str
    mmr: Key
    admin: Key
    # The backup copier's add-only key (config_schema/s3_policy.py, backup_upload_policy).
    backup: Key

    def client(self, service: str, key: Key) -> BaseClient:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            # No retries: an AccessDenied must surface at once, not after backoff.
            config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
        )


def _reset_auth(endpoint_url: str, threshold: str) -> str:
    """Sets moto's free-request threshold and zeroes its count; returns the previous threshold."""
    request = urllib.request.Request(
        f"{endpoint_url}/moto-api/reset-auth",
        data=threshold.encode(),
        method="POST",
        # moto reads the raw body; urllib's default form content type makes Flask hand it an empty one.
        headers={"Content-Type": "text/plain"},
    )
    # An empty ProxyHandler: an HTTP(S)_PROXY in the environment must not take this off 127.0.0.1.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        return str(json.load(response)["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])


def _reset_backends(endpoint_url: str) -> None:
    # moto's backends are process-global: leave nothing behind for other tests that use moto in-process.
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", data=b"", method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    opener.open(request, timeout=10).close()


def _create_user_with_policy(iam: BaseClient, user: str, policy: dict[str, Any]) -> Key:
    """What components/media_bucket.py does: a user, its inline policy, one access key."""
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName=f"{user}-policy", PolicyDocument=json.dumps(policy))
    created = iam.create_access_key(UserName=user)["AccessKey"]
    return Key(created["AccessKeyId"], created["SecretAccessKey"])


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[MotoS3]:
    with pytest.MonkeyPatch.context() as env:
        # botocore reads proxy variables; keep its traffic on 127.0.0.1 whatever the environment says.
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")
        # Port 0: the OS picks a free port at bind time, so no race with other processes.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{port}"
        previous_threshold = _reset_auth(endpoint_url, "inf")
        try:
            # Free requests: no IAM user exists yet, so any key works for the set-up.
            bootstrap = Key("bootstrap", "bootstrap")
            partial = MotoS3(f"{host}:{port}", endpoint_url, bootstrap, bootstrap, bootstrap)
            s3 = partial.client("s3", bootstrap)
            iam = partial.client("iam", bootstrap)
            s3.create_bucket(Bucket=MEDIA_BUCKET)
            s3.create_bucket(Bucket=OTHER_BUCKET)
            s3.put_object(Bucket=OTHER_BUCKET, Key=OTHER_KEY, Body=OTHER_BODY)
            # Keeps the media bucket non-empty: should a broken policy allow DeleteBucket,
            # S3 still refuses it and the tests after that one keep their bucket.
            s3.put_object(Bucket=MEDIA_BUCKET, Key=SENTINEL_KEY, Body=b"")
            # As the program creates buckets: versioned (components/media_bucket.py).
            s3.put_bucket_versioning(Bucket=MEDIA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
            mmr = _create_user_with_policy(iam, MMR_USER, bucket_access_policy(f"arn:aws:s3:::{MEDIA_BUCKET}"))
            backup = _create_user_with_policy(
                iam, BACKUP_USER, backup_upload_policy(f"arn:aws:s3:::{MEDIA_BUCKET}", S3_PREFIX)
            )
            # Once enforcement is on there is no root key in moto: checks after a
            # denied call (did anything change?) need a user that may do anything.
            admin = _create_user_with_policy(
                iam,
                ADMIN_USER,
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
            )
            _reset_auth(endpoint_url, "0")
            yield MotoS3(f"{host}:{port}", endpoint_url, mmr, admin, backup)
        finally:
            _reset_backends(endpoint_url)
            _reset_auth(endpoint_url, previous_threshold)
            server.stop()


@pytest.fixture(scope="module")
def mmr_s3(moto_s3: MotoS3) -> BaseClient:
    return moto_s3.client("s3", moto_s3.mmr)


@pytest.fixture(scope="module")
def admin_s3(moto_s3: MotoS3) -> BaseClient:
    return moto_s3.client("s3", moto_s3.admin)


def _error_code(call: Callable[[], object]) -> str:
    """The S3/IAM error code of a call that must fail; a call that succeeds fails the test."""
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def _unique_key(prefix: str) -> str:
    return f"{prefix}/{uuid.uuid4().hex}"


def go_parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool, which MMR applies to opts["ssl"]: anything else is an error there."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"strconv.ParseBool: parsing {value!r}: invalid syntax")


def test_policy_grants_nothing_outside_the_bucket() -> None:
    bucket_arn = f"arn:aws:s3:::{MEDIA_BUCKET}"
    policy = bucket_access_policy(bucket_arn)
    for statement in policy["Statement"]:
        # NotAction/NotResource grant everything they do not name.
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        for action in actions:
            assert action.startswith("s3:"), action
            assert "*" not in action, action
        for resource in resources:
            assert resource in (bucket_arn, f"{bucket_arn}/*"), resource


def test_iam_authorization_is_enforced(moto_s3: MotoS3) -> None:
    # Without this, every "allowed" below would pass on a server that checks nothing.
    stranger = moto_s3.client("s3", Key("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
    assert _error_code(lambda: stranger.list_objects_v2(Bucket=MEDIA_BUCKET)) == "InvalidAccessKeyId"
    forged = moto_s3.client("s3", Key(moto_s3.mmr.access_key_id, "not-the-secret"))
    assert _error_code(lambda: forged.list_objects_v2(Bucket=MEDIA_BUCKET)) == "SignatureDoesNotMatch"


def test_mmr_key_object_round_trip(mmr_s3: BaseClient) -> None:
    key = _unique_key("local_media")
    body = os.urandom(4096)
    mmr_s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=body, ContentType="image/png")
    assert mmr_s3.get_object(Bucket=MEDIA_BUCKET, Key=key)["Body"].read() == body
    # minio-go's StatObject is a HEAD.
    assert mmr_s3.head_object(Bucket=MEDIA_BUCKET, Key=key)["ContentLength"] == len(body)
    listed = mmr_s3.list_objects_v2(Bucket=MEDIA_BUCKET, Prefix="local_media/")
    assert key in [entry["Key"] for entry in listed.get("Contents", [])]
    mmr_s3.delete_object(Bucket=MEDIA_BUCKET, Key=key)
    listed = mmr_s3.list_objects_v2(Bucket=MEDIA_BUCKET, Prefix="local_media/")
    assert key not in [entry["Key"] for entry in listed.get("Contents", [])]


def test_mmr_key_multipart_upload(mmr_s3: BaseClient) -> None:
    key = _unique_key("remote_media")
    parts_data = [os.urandom(MIN_PART_SIZE), os.urandom(1024)]
    upload_id = mmr_s3.create_multipart_upload(Bucket=MEDIA_BUCKET, Key=key)["UploadId"]
    etags = [
        mmr_s3.upload_part(Bucket=MEDIA_BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        for number, data in enumerate(parts_data, start=1)
    ]
    listed_parts = mmr_s3.list_parts(Bucket=MEDIA_BUCKET, Key=key, UploadId=upload_id)["Parts"]
    assert [(part["PartNumber"], part["Size"]) for part in listed_parts] == [(1, MIN_PART_SIZE), (2, 1024)]
    uploads = mmr_s3.list_multipart_uploads(Bucket=MEDIA_BUCKET).get("Uploads", [])
    assert upload_id in [upload["UploadId"] for upload in uploads]
    mmr_s3.complete_multipart_upload(
        Bucket=MEDIA_BUCKET,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]},
    )
    assert mmr_s3.get_object(Bucket=MEDIA_BUCKET, Key=key)["Body"].read() == b"".join(parts_data)

    # MMR aborts an upload it cannot finish; the parts must go with it.
    aborted_key = _unique_key("remote_media")
    aborted_id = mmr_s3.create_multipart_upload(Bucket=MEDIA_BUCKET, Key=aborted_key)["UploadId"]
    mmr_s3.upload_part(Bucket=MEDIA_BUCKET, Key=aborted_key, UploadId=aborted_id, PartNumber=1, Body=b"partial")
    mmr_s3.abort_multipart_upload(Bucket=MEDIA_BUCKET, Key=aborted_key, UploadId=aborted_id)
    uploads = mmr_s3.list_multipart_uploads(Bucket=MEDIA_BUCKET).get("Uploads", [])
    assert aborted_id not in [upload["UploadId"] for upload in uploads]
    assert _error_code(lambda: mmr_s3.head_object(Bucket=MEDIA_BUCKET, Key=aborted_key)) == "404"

    mmr_s3.delete_object(Bucket=MEDIA_BUCKET, Key=key)


def test_mmr_key_gets_bucket_location(mmr_s3: BaseClient) -> None:
    # minio-go asks for the location before its first request when no region is configured.
    location = mmr_s3.get_bucket_location(Bucket=MEDIA_BUCKET)
    # us-east-1 is the one region S3 reports as no constraint at all.
    assert location["LocationConstraint"] in (None, "")


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda s3: s3.put_object(Bucket=OTHER_BUCKET, Key="planted", Body=b"x"), id="put_object"),
        pytest.param(lambda s3: s3.get_object(Bucket=OTHER_BUCKET, Key=OTHER_KEY), id="get_object"),
        pytest.param(lambda s3: s3.list_objects_v2(Bucket=OTHER_BUCKET), id="list_objects_v2"),
        pytest.param(lambda s3: s3.delete_object(Bucket=OTHER_BUCKET, Key=OTHER_KEY), id="delete_object"),
        pytest.param(lambda s3: s3.create_multipart_upload(Bucket=OTHER_BUCKET, Key="planted"), id="multipart"),
        pytest.param(lambda s3: s3.get_bucket_location(Bucket=OTHER_BUCKET), id="get_bucket_location"),
    ],
)
def test_mmr_key_denied_on_another_bucket(
    operation: Callable[[BaseClient], object], mmr_s3: BaseClient, admin_s3: BaseClient
) -> None:
    assert _error_code(lambda: operation(mmr_s3)) == "AccessDenied"
    # A denial that still changed the bucket would be no denial.
    contents = admin_s3.list_objects_v2(Bucket=OTHER_BUCKET).get("Contents", [])
    assert [entry["Key"] for entry in contents] == [OTHER_KEY]
    assert admin_s3.get_object(Bucket=OTHER_BUCKET, Key=OTHER_KEY)["Body"].read() == OTHER_BODY


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda s3: s3.list_buckets(), id="list_buckets"),
        pytest.param(lambda s3: s3.create_bucket(Bucket="mmr-made-this"), id="create_bucket"),
        pytest.param(lambda s3: s3.delete_bucket(Bucket=MEDIA_BUCKET), id="delete_own_bucket"),
        pytest.param(
            lambda s3: s3.put_bucket_policy(
                Bucket=MEDIA_BUCKET,
                Policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": "*",
                                "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{MEDIA_BUCKET}/*",
                            }
                        ],
                    }
                ),
            ),
            id="make_own_bucket_public",
        ),
    ],
)
def test_mmr_key_cannot_administer_buckets(operation: Callable[[BaseClient], object], mmr_s3: BaseClient) -> None:
    assert _error_code(lambda: operation(mmr_s3)) == "AccessDenied"


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(lambda iam: iam.list_users(), id="list_users"),
        pytest.param(lambda iam: iam.create_access_key(UserName=MMR_USER), id="create_own_access_key"),
        pytest.param(lambda iam: iam.create_access_key(UserName=ADMIN_USER), id="create_admin_access_key"),
        pytest.param(
            lambda iam: iam.put_user_policy(
                UserName=MMR_USER,
                PolicyName="escalate",
                PolicyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
                ),
            ),
            id="put_own_user_policy",
        ),
        pytest.param(lambda iam: iam.create_user(UserName="mmr-made-this"), id="create_user"),
    ],
)
def test_mmr_key_denied_any_iam_call(operation: Callable[[BaseClient], object], moto_s3: MotoS3) -> None:
    mmr_iam = moto_s3.client("iam", moto_s3.mmr)
    assert _error_code(lambda: operation(mmr_iam)) == "AccessDenied"
    admin_iam = moto_s3.client("iam", moto_s3.admin)
    assert len(admin_iam.list_access_keys(UserName=MMR_USER)["AccessKeyMetadata"]) == 1
    assert admin_iam.list_user_policies(UserName=MMR_USER)["PolicyNames"] == [f"{MMR_USER}-policy"]
    assert sorted(user["UserName"] for user in admin_iam.list_users()["Users"]) == sorted(
        [ADMIN_USER, MMR_USER, BACKUP_USER]
    )


def test_minio_client_from_rendered_datastore_opts(moto_s3: MotoS3) -> None:
    stack = load_stack_config(
        {
            "homeservers": [{"name": "example.org", "csApi": "http://synapse:8008"}],
            "datastores": {"s3": {"forKinds": ["local_media", "remote_media"]}},
            "s3": {
                "provider": "external",
                "endpoint": moto_s3.host_port,
                "ssl": False,
                "bucketName": MEDIA_BUCKET,
                "region": REGION,
                "accessKeyId": moto_s3.mmr.access_key_id,
                "accessSecret": moto_s3.mmr.secret_access_key,
            },
        }
    )
    opts = s3_datastore_opts(
        stack,
        S3Connection(
            endpoint=moto_s3.host_port,
            bucket_name=MEDIA_BUCKET,
            region=REGION,
            access_key_id=moto_s3.mmr.access_key_id,
            access_secret=moto_s3.mmr.secret_access_key,
            ssl=False,
        ),
    )
    # Everything below comes from opts alone, as MMR would see it.
    secure = go_parse_bool(opts["ssl"])
    assert secure is (opts["ssl"] == "true")
    # Minio() itself rejects an endpoint with a scheme or a path.
    client = Minio(
        opts["endpoint"],
        access_key=opts["accessKeyId"],
        secret_key=opts["accessSecret"],
        secure=secure,
        region=opts["region"],
    )
    bucket = opts["bucketName"]
    key = _unique_key("local_media")
    body = os.urandom(2048)
    client.put_object(bucket, key, io.BytesIO(body), length=len(body), content_type="application/octet-stream")
    response = client.get_object(bucket, key)
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()
    assert client.stat_object(bucket, key).size == len(body)
    client.remove_object(bucket, key)
    with pytest.raises(S3Error) as missing:
        client.stat_object(bucket, key)
    assert missing.value.code == "NoSuchKey"
    # The same rendered key reaches no further through MinIO's SDK than through boto3.
    with pytest.raises(S3Error) as denied:
        client.get_object(OTHER_BUCKET, OTHER_KEY)
    assert denied.value.code == "AccessDenied"


def test_what_mmr_deletes_is_restored_as_the_readme_says(mmr_s3: BaseClient, admin_s3: BaseClient) -> None:
    """Versioning turns MMR's delete into a delete marker; removing the marker brings the object back."""
    key = _unique_key("deleted")
    mmr_s3.put_object(Bucket=MEDIA_BUCKET, Key=key, Body=b"years of media")
    mmr_s3.delete_object(Bucket=MEDIA_BUCKET, Key=key)
    assert _error_code(lambda: mmr_s3.get_object(Bucket=MEDIA_BUCKET, Key=key)) == "NoSuchKey"
    # A leaked MMR key cannot purge the old version: DeleteObjectVersion is not in its policy.
    versions = admin_s3.list_object_versions(Bucket=MEDIA_BUCKET, Prefix=key)
    [kept] = versions["Versions"]
    denied = lambda: mmr_s3.delete_object(Bucket=MEDIA_BUCKET, Key=key, VersionId=kept["VersionId"])  # noqa: E731
    assert _error_code(denied) == "AccessDenied"
    # README, "Backup and restore": aws s3api delete-object --bucket B --key K --version-id <the delete marker>
    [marker] = versions["DeleteMarkers"]
    admin_s3.delete_object(Bucket=MEDIA_BUCKET, Key=key, VersionId=marker["VersionId"])
    assert mmr_s3.get_object(Bucket=MEDIA_BUCKET, Key=key)["Body"].read() == b"years of media"
