"""Where media goes: the datastores (which kinds go where, their ids) and the S3 bucket's settings."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from config_schema.common import ConfigModel, check_http_url, is_bare_server_name
from config_schema.errors import ConfigError, ask_command, rm_command, set_command
from config_schema.fixes import choice_command, nearest

MediaKind = Literal["thumbnails", "remote_media", "local_media", "archives"]
ALL_MEDIA_KINDS: tuple[MediaKind, ...] = ("thumbnails", "remote_media", "local_media", "archives")

S3_TEMP_PATH = "/tmp/mmr-s3"
_DATASTORE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_S3_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class FileDatastore(ConfigModel):
    id: str = "file"
    # None means "every kind the S3 datastore does not take", resolved by Datastores.
    for_kinds: list[MediaKind] | None = None
    # the media volume: protected against `pulumi destroy` and kept on delete
    protect: bool = True
    # "s3": the file datastore takes no new media, stays readable, and `pulumi up` moves what it
    # holds to the S3 datastore with MMR's own transfer task.
    transfer_to: Literal["s3"] | None = None


class S3Datastore(ConfigModel):
    id: str = "s3"
    for_kinds: list[MediaKind] = Field(default_factory=list)


class Datastores(ConfigModel):
    file: FileDatastore = Field(default_factory=FileDatastore)
    s3: S3Datastore = Field(default_factory=S3Datastore)

    @model_validator(mode="after")
    def _ids_and_kinds(self) -> Datastores:
        for key, datastore_id in (("file.id", self.file.id), ("s3.id", self.s3.id)):
            if not _DATASTORE_ID.match(datastore_id):
                raise ConfigError(
                    f"{datastore_id!r} is not a usable datastore id (letters, digits, - and _, at most 64)", key=key
                )
        if self.file.id == self.s3.id:
            raise ConfigError(
                f"is {self.s3.id!r}, the same as datastores.file.id: MMR needs distinct ids",
                key="s3.id",
                # Unset, it is "s3": the program's own id, unless that is the file datastore's.
                fix=rm_command("datastores.s3.id") if self.file.id != "s3" else None,
            )
        if self.file.transfer_to:
            self._check_transfer()
        for kind in dict.fromkeys(self.s3.for_kinds):
            if self.file.for_kinds is not None and kind in self.file.for_kinds:
                raise ConfigError(
                    f"{kind!r} is given to both datastores, so MMR would split those uploads between disk and "
                    "bucket; unset, the file datastore takes what S3 does not",
                    key="file.forKinds",
                    fix=rm_command("datastores.file.forKinds"),
                )
        missing = [kind for kind in ALL_MEDIA_KINDS if kind not in self.file_kinds and kind not in self.s3.for_kinds]
        if missing:
            raise ConfigError(
                f"no datastore accepts {', '.join(missing)}: MMR fails every upload of a kind without one; unset, "
                "the file datastore takes every kind S3 does not",
                key="file.forKinds",
                fix=rm_command("datastores.file.forKinds"),
            )
        return self

    def _check_transfer(self) -> None:
        if self.file.for_kinds:
            raise ConfigError(
                f"sends {', '.join(self.file.for_kinds)} to the file datastore, which datastores.file.transferTo "
                "is emptying: it must take no new media",
                key="file.forKinds",
                fix=rm_command("datastores.file.forKinds"),
            )
        # What moves is everything on the volume, of every kind (tasks/task_runner/datastore_migrate.go
        # selects by datastore id alone), and the file datastore takes nothing new: S3 must take it all.
        missing = [kind for kind in ALL_MEDIA_KINDS if kind not in self.s3.for_kinds]
        if missing:
            state = (
                "takes no kinds (it is read-only)" if not self.s3.for_kinds else f"does not take {', '.join(missing)}"
            )
            raise ConfigError(
                f"{state}, but datastores.file.transferTo moves every kind to it, and the file datastore takes "
                "no new media while it is emptied",
                key="s3.forKinds",
                fix=" && ".join(
                    set_command(f"datastores.s3.forKinds[{index}]", kind) for index, kind in enumerate(ALL_MEDIA_KINDS)
                ),
            )

    @property
    def file_volume_in_use(self) -> bool:
        """Whether MMR writes to the media volume or still reads media from it."""
        return bool(self.file_kinds) or self.file.transfer_to is not None

    @property
    def file_kinds(self) -> list[MediaKind]:
        if self.file.transfer_to:
            return []
        if self.file.for_kinds is None:
            return [kind for kind in ALL_MEDIA_KINDS if kind not in self.s3.for_kinds]
        return list(dict.fromkeys(self.file.for_kinds))


S3Provider = Literal["aws", "digitalocean", "external"]


def _meant_bool(text: str) -> bool | None:
    """true or false, when ``text`` is one of them misspelt; None when it is neither."""
    meant = nearest(text, ["true", "false"])
    return None if meant is None else meant == "true"


class S3(ConfigModel):
    provider: S3Provider | None = None
    bucket_name: str | None = None
    region: str | None = None
    endpoint: str | None = None
    ssl: bool = True
    storage_class: str | None = None
    # Where uploads wait before they go to the bucket. MMR buffers every upload before it sends it
    # (pipelines/pipeline_upload/pipeline.go line 64 at 84bcb70), in RAM when this is empty
    # (datastores/buffer.go lines 31-33 and 55): 16 uploads of 50 MiB took 2.2 GiB. On disk, the same
    # peaked at 366 MiB. /tmp is the scratch volume on Docker and the /tmp emptyDir on Kubernetes.
    temp_path: str = S3_TEMP_PATH
    access_key_id: str | None = None
    access_secret: str | None = None
    prefix_length: int | None = Field(default=None, ge=0, le=16)
    public_base_url: str | None = None
    redirect_when_cached: bool | None = None
    multipart_uploads: bool | None = None
    # Buckets this program creates keep old versions, so that an object MMR, a bug or a leaked key
    # deletes can be brought back; noncurrent versions expire after this many days.
    versioning: bool = True
    noncurrent_version_expiration_days: int = Field(default=30, ge=1, le=3650)
    encryption: Literal["AES256", "aws:kms"] = "AES256"
    protect: bool = True

    @field_validator("ssl", "redirect_when_cached", "multipart_uploads", "versioning", "protect", mode="before")
    @classmethod
    def _go_bool(cls, value: object) -> object:
        # Operators copy these from YAML where `yes`/`on` are booleans; Go's
        # strconv.ParseBool (what MMR uses) would read them as false.
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "t", "1", "yes", "y", "on"):
                return True
            if lowered in ("false", "f", "0", "no", "n", "off"):
                return False
            meant = _meant_bool(lowered)
            raise ConfigError(
                f"{value!r} is neither true nor false",
                corrected=meant,
                fix=None if meant is not None else choice_command("{key}", [True, False], unset_valid=False),
            )
        return value

    @field_validator("temp_path")
    @classmethod
    def _writable(cls, value: str) -> str:
        # MMR creates tempPath with os.Mkdir, one level only (datastores/buffer.go:35 at 84bcb70), and its
        # root filesystem is read-only: only a direct child of /tmp, its scratch volume, can be made.
        if not value:
            raise ConfigError(
                "is empty, which makes MMR hold every upload whole in RAM before it goes to the bucket "
                "(16 uploads of 50 MiB took 2.2 GiB); leave it unset for a directory on the scratch volume",
                fix="pulumi config rm --path 's3.tempPath'",
            )
        if not re.fullmatch(r"/tmp/[A-Za-z0-9._-]+", value) or value in ("/tmp/.", "/tmp/.."):
            raise ConfigError(
                f"{value!r} must be a directory directly under /tmp such as {S3_TEMP_PATH}, "
                "the container's scratch space (MMR creates one level only)",
            )
        return value

    @field_validator("endpoint")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" in value or "/" in value or not is_bare_server_name(value):
            host = urlsplit(value if "://" in value else f"//{value}").netloc or value.split("/")[0]
            raise ConfigError(
                f"{value!r} must be host[:port] only, without scheme or path (MMR adds the scheme from s3.ssl)",
                corrected=host if host and is_bare_server_name(host) else None,
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _S3_REGION.match(value):
            # Region names are lower-case: folded, one that is otherwise right is the same region.
            folded = value.strip().lower()
            raise ConfigError(
                f"{value!r} is not a region name such as eu-central-1 or ams3",
                corrected=folded if _S3_REGION.match(folded) else None,
            )
        return value

    @field_validator("bucket_name")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and (not _S3_BUCKET.match(value) or ".." in value):
            # S3 bucket names are lower-case; folded, a name that is otherwise valid is the one meant.
            folded = value.strip().lower()
            raise ConfigError(
                f"{value!r} is not a valid bucket name (3-63 of a-z, 0-9, '.' and '-', lower-case)",
                corrected=folded if _S3_BUCKET.match(folded) and ".." not in folded else None,
            )
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # MMR appends the object id directly, so the prefix must end in '/'.
        return check_http_url(value, "that clients are redirected to", "https://cdn.example.org/") + "/"

    @model_validator(mode="after")
    def _provider_needs(self) -> S3:
        if self.provider == "external":
            for key, value in (
                ("endpoint", self.endpoint),
                ("bucketName", self.bucket_name),
                ("accessKeyId", self.access_key_id),
                ("accessSecret", self.access_secret),
            ):
                if not value:
                    raise ConfigError(
                        "is required with s3.provider external: nothing is created, the bucket must exist",
                        key=key,
                        fix=ask_command(f"s3.{key}"),
                    )
        elif self.provider in ("aws", "digitalocean"):
            for key, value in (
                ("accessKeyId", self.access_key_id),
                ("accessSecret", self.access_secret),
                ("endpoint", self.endpoint),
            ):
                if value:
                    raise ConfigError(
                        f"is created by this program with s3.provider {self.provider}; remove it",
                        key=key,
                        fix=rm_command(f"s3.{key}"),
                    )
            if self.provider == "digitalocean" and not self.region:
                raise ConfigError(
                    "is required with s3.provider digitalocean (the Space's region, such as ams3)",
                    key="region",
                    fix=ask_command("s3.region"),
                )
        return self
