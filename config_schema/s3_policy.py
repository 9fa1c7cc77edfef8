"""The IAM policy of MMR's own key: its bucket, and only what MMR does there."""

from __future__ import annotations

from typing import Any

# What MMR's S3 client (minio-go) calls: object reads, writes and deletes,
# multipart uploads for large media, and listing and location on the bucket.
OBJECT_ACTIONS: tuple[str, ...] = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
BUCKET_ACTIONS: tuple[str, ...] = (
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:GetBucketLocation",
)


def bucket_access_policy(bucket_arn: str) -> dict[str, Any]:
    """A policy document that grants nothing outside ``bucket_arn`` (``arn:aws:s3:::<bucket>``)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "MediaObjects",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": [f"{bucket_arn}/*"],
            },
            {
                "Sid": "MediaBucket",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": [bucket_arn],
            },
        ],
    }


def backup_upload_policy(bucket_arn: str, prefix: str) -> dict[str, Any]:
    """The backup copier's key: it may add objects under ``prefix``, and nothing else, delete included."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AddBackups",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [f"{bucket_arn}/{prefix}*"],
            }
        ],
    }
