"""The outputs every platform exports alike: the database, the bucket and its key, the rendered config."""

from __future__ import annotations

from typing import Any

import pulumi

from components.shared.media_bucket import MediaBucket
from components.shared.media_database import MediaDatabase
from components.shared.signing_keys import SigningKeys
from config_schema import StackConfig
from config_schema.homeserver_settings import homeserver_settings
from config_schema.media_repo import datastore_ids


def shared_outputs(
    stack: StackConfig,
    database: MediaDatabase,
    bucket: MediaBucket | None,
    config_yaml: pulumi.Output[str],
    shared_secret_token: pulumi.Output[str] | None,
    *,
    restore_command: str | None = None,
    signing_keys: SigningKeys | None = None,
) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    outputs["homeserverSettings"] = homeserver_settings(stack)
    if signing_keys is not None and signing_keys.pems:
        outputs["homeserverSigningKeys"] = signing_keys.exported
    if shared_secret_token is not None:
        outputs["sharedSecretToken"] = shared_secret_token
    outputs["databaseHost"] = database.host
    if restore_command or database.restore_command:
        # A platform's backups know a better restore than the database alone: from the newest dump.
        outputs["databaseRestoreCommand"] = restore_command or database.restore_command
    if database.cluster_id:
        outputs["databaseClusterId"] = database.cluster_id
    if database.instance_id:
        outputs["databaseInstanceId"] = database.instance_id
    outputs["databaseDsn"] = database.dsn
    outputs["mediaRepoConfig"] = config_yaml
    outputs["datastoreIds"] = datastore_ids(stack)
    if bucket:
        outputs.update(
            bucketName=bucket.bucket_name,
            s3Endpoint=bucket.endpoint,
            s3Region=bucket.region,
            s3AccessKeyId=bucket.access_key_id,
            s3SecretAccessKey=bucket.secret_access_key,
        )
    return outputs
