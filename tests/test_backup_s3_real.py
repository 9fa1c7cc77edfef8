"""The copy of database dumps to S3, against a real S3 API with IAM enforced (moto, on 127.0.0.1).

The backup key may add objects under ``backups/`` and do nothing else, delete included; the hook script the
backup container runs after each dump uploads the newest one with curl's own SigV4 signing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from config_schema.backup import BACKUP_DIR, S3_CREDENTIALS_FILE, curl_credentials, s3_copy_hook
from tests.host_tools import require_tool
from tests.test_s3_real import MEDIA_BUCKET, REGION, MotoS3, admin_s3, moto_s3  # noqa: F401 - fixtures

DUMP = os.urandom(64 * 1024)


@pytest.fixture(scope="module")
def backup_s3(moto_s3: MotoS3) -> BaseClient:  # noqa: F811 - the fixture imported above
    return moto_s3.client("s3", moto_s3.backup)


def _denied(call: Callable[[], object]) -> bool:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"] == "AccessDenied"
    return False


def test_the_backup_key_adds_dumps_and_nothing_else(backup_s3: BaseClient, admin_s3: BaseClient) -> None:  # noqa: F811
    backup_s3.put_object(Bucket=MEDIA_BUCKET, Key="backups/mediarepo-1.dump", Body=DUMP)
    assert admin_s3.get_object(Bucket=MEDIA_BUCKET, Key="backups/mediarepo-1.dump")["Body"].read() == DUMP
    assert _denied(lambda: backup_s3.delete_object(Bucket=MEDIA_BUCKET, Key="backups/mediarepo-1.dump"))
    assert _denied(lambda: backup_s3.put_object(Bucket=MEDIA_BUCKET, Key="media/overwritten", Body=b"x"))
    assert _denied(lambda: backup_s3.get_object(Bucket=MEDIA_BUCKET, Key="backups/mediarepo-1.dump"))
    assert _denied(lambda: backup_s3.list_objects_v2(Bucket=MEDIA_BUCKET))


def test_the_hook_uploads_the_newest_dump(moto_s3: MotoS3, admin_s3: BaseClient, tmp_path: Path) -> None:  # noqa: F811
    """The hook as the container runs it, but for its two paths, here in a temporary directory."""
    curl = require_tool("curl")
    backups, credentials = tmp_path / "backups", tmp_path / "credentials"
    (backups / "last").mkdir(parents=True)
    (backups / "last" / "mediarepo-20260131-230000.dump").write_bytes(DUMP)
    (backups / "last" / "mediarepo-latest.dump").symlink_to("mediarepo-20260131-230000.dump")
    key = moto_s3.backup
    credentials.write_text(curl_credentials(key.access_key_id, key.secret_access_key))
    hook = tmp_path / "hook"
    hook.write_text(
        s3_copy_hook().replace(S3_CREDENTIALS_FILE, str(credentials)).replace(f"{BACKUP_DIR}/last", f"{backups}/last")
    )
    environment = {
        **os.environ,
        "S3_URL": f"{moto_s3.endpoint_url}/{MEDIA_BUCKET}",
        "S3_REGION": REGION,
        "NO_PROXY": "127.0.0.1",
        "PATH": f"{curl.parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(["sh", str(hook), "post-backup"], capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr
    uploaded = admin_s3.get_object(Bucket=MEDIA_BUCKET, Key="backups/mediarepo-20260131-230000.dump")
    assert uploaded["Body"].read() == DUMP
    # The secret is in neither the hook nor its output.
    assert key.secret_access_key not in hook.read_text() + result.stdout + result.stderr
