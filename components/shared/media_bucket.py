"""The S3 datastore's bucket and MMR's key for it: on AWS, on DigitalOcean Spaces, or one that exists.

The cloud SDKs are imported inside the method that needs them: a stack that
does not use a cloud pays nothing for its SDK at every `pulumi preview`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pulumi

from config_schema.backup import S3_PREFIX
from config_schema.media_repo import S3Connection
from config_schema.s3_policy import backup_upload_policy, bucket_access_policy
from config_schema.storage import S3


@dataclass(frozen=True)
class BackupUpload:
    """Where database dumps are copied, and the key that may only add them."""

    url: str
    region: str
    access_key_id: str
    secret: str


# S3 keeps the parts of an upload that never completed, and bills them, until told not to.
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7


def missing_spaces_keys() -> bool:
    """Whether the digitalocean provider lacks the Spaces keys it needs to manage buckets."""
    config = pulumi.Config("digitalocean")
    has_id = config.get("spacesAccessId") or os.environ.get("SPACES_ACCESS_KEY_ID")
    has_secret = config.get("spacesSecretKey") or os.environ.get("SPACES_SECRET_ACCESS_KEY")
    return not (has_id and has_secret)


class MediaBucket(pulumi.ComponentResource):
    """Exposes ``connection`` (secret: it holds the key) and, for outputs,
    ``bucket_name``, ``endpoint``, ``region``, ``access_key_id`` and ``secret_access_key`` (secret)."""

    connection: pulumi.Output[S3Connection]
    bucket_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    region: pulumi.Output[str]
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]
    # Set with `backup_upload` (aws only): a key of its own that may only add objects under backups/.
    backup_upload: pulumi.Output[BackupUpload] | None = None

    def __init__(
        self, name: str, s3: S3, *, backup_upload: bool = False, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("matrix-media-repo:index:MediaBucket", name, None, opts)
        self._name = name
        self._s3 = s3
        self._backup_upload = backup_upload
        if s3.provider == "aws":
            self._aws()
        elif s3.provider == "digitalocean":
            self._digitalocean()
        else:
            self._external()
        self.secret_access_key = pulumi.Output.secret(self.secret_access_key)
        self.connection = pulumi.Output.secret(
            pulumi.Output.all(
                self.endpoint, self.bucket_name, self.region, self.access_key_id, self.secret_access_key
            ).apply(
                lambda values: S3Connection(
                    endpoint=values[0],
                    bucket_name=values[1],
                    region=values[2],
                    access_key_id=values[3],
                    access_secret=values[4],
                    ssl=s3.ssl,
                )
            )
        )
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "endpoint": self.endpoint,
                "region": self.region,
                "accessKeyId": self.access_key_id,
                "secretAccessKey": self.secret_access_key,
            }
        )

    def _stateful(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, protect=self._s3.protect, retain_on_delete=self._s3.protect)

    def _aws(self) -> None:
        import pulumi_aws as aws

        name, s3 = self._name, self._s3
        child = pulumi.ResourceOptions(parent=self)
        region: pulumi.Output[str] = (
            pulumi.Output.from_input(s3.region)
            if s3.region
            else aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        )
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=s3.bucket_name,
            region=s3.region,
            # Media is years of users' uploads: never emptied to make a delete succeed.
            force_destroy=False,
            opts=self._stateful(),
        )
        bucket_child = pulumi.ResourceOptions(parent=self, depends_on=[bucket])
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            region=s3.region,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=bucket_child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            region=s3.region,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=bucket_child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            region=s3.region,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm=s3.encryption,
                    ),
                    bucket_key_enabled=s3.encryption == "aws:kms",
                )
            ],
            opts=bucket_child,
        )
        if s3.versioning:
            aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=bucket.id,
                region=s3.region,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=bucket_child,
            )
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="abort-incomplete-multipart-uploads",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS,
                ),
            )
        ]
        if s3.versioning:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=s3.noncurrent_version_expiration_days,
                    ),
                )
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle", bucket=bucket.id, region=s3.region, rules=rules, opts=bucket_child
        )
        user = aws.iam.User(f"{name}-user", name=f"{name}-media-repo", opts=child)
        aws.iam.UserPolicy(
            f"{name}-policy",
            user=user.name,
            policy=bucket.arn.apply(lambda arn: json.dumps(bucket_access_policy(arn))),
            opts=child,
        )
        key = aws.iam.AccessKey(f"{name}-key", user=user.name, opts=child)
        if self._backup_upload:
            uploader = aws.iam.User(f"{name}-backup-uploader", name=f"{name}-backup-uploader", opts=child)
            aws.iam.UserPolicy(
                f"{name}-backup-uploader-policy",
                user=uploader.name,
                policy=bucket.arn.apply(lambda arn: json.dumps(backup_upload_policy(arn, S3_PREFIX))),
                opts=child,
            )
            upload_key = aws.iam.AccessKey(f"{name}-backup-uploader-key", user=uploader.name, opts=child)
            self.backup_upload = pulumi.Output.secret(
                pulumi.Output.all(bucket.bucket, region, upload_key.id, upload_key.secret).apply(
                    lambda v: BackupUpload(
                        url=f"https://{v[0]}.s3.{v[1]}.amazonaws.com", region=v[1], access_key_id=v[2], secret=v[3]
                    )
                )
            )
        self.bucket_name = bucket.bucket
        self.region = region
        self.endpoint = region.apply(lambda r: f"s3.{r}.amazonaws.com")
        self.access_key_id = key.id
        self.secret_access_key = key.secret

    def _digitalocean(self) -> None:
        import pulumi_digitalocean as digitalocean

        name, s3 = self._name, self._s3
        region = s3.region or ""
        bucket = digitalocean.SpacesBucket(
            f"{name}-space",
            name=s3.bucket_name,
            region=region,
            acl="private",
            force_destroy=False,
            versioning=digitalocean.SpacesBucketVersioningArgs(enabled=True) if s3.versioning else None,
            lifecycle_rules=[
                digitalocean.SpacesBucketLifecycleRuleArgs(
                    enabled=True,
                    abort_incomplete_multipart_upload_days=ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS,
                    noncurrent_version_expiration=digitalocean.SpacesBucketLifecycleRuleNoncurrentVersionExpirationArgs(
                        days=s3.noncurrent_version_expiration_days
                    )
                    if s3.versioning
                    else None,
                )
            ],
            opts=self._stateful(),
        )
        key = digitalocean.SpacesKey(
            f"{name}-key",
            name=f"{name}-media-repo",
            grants=[digitalocean.SpacesKeyGrantArgs(bucket=bucket.name, permission="readwrite")],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.bucket_name = bucket.name
        self.region = pulumi.Output.from_input(region)
        self.endpoint = pulumi.Output.from_input(f"{region}.digitaloceanspaces.com")
        self.access_key_id = key.access_key
        self.secret_access_key = key.secret_key

    def _external(self) -> None:
        s3 = self._s3
        self.bucket_name = pulumi.Output.from_input(s3.bucket_name or "")
        self.region = pulumi.Output.from_input(s3.region or "")
        self.endpoint = pulumi.Output.from_input(s3.endpoint or "")
        self.access_key_id = pulumi.Output.from_input(s3.access_key_id or "")
        self.secret_access_key = pulumi.Output.secret(s3.access_secret or "")
