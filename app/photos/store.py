"""The photo store: content-addressed objects behind a small interface.

A key is ``ab/cd/<sha256 of the bytes><suffix>``, so the same bytes always get the same key
and a key's bytes never change: storing is idempotent and serving may cache forever. Two
stores hold them: a local directory (the default, one host) and an S3-compatible object
store (``MEMORIAL_PHOTO_STORE=s3://bucket/prefix``) that any number of app hosts share.
Neither lets a reader see half an object: the directory writes aside and renames, and an
object store makes an object visible only once its PUT is complete.
"""

import base64
import functools
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app.errors import ServiceUnavailable

if TYPE_CHECKING:
    from app.config import Settings

#: bytes handed to the response at a time while a photo streams out
CHUNK = 64 * 1024
#: what the client is told to wait before it tries again when the object store is unreachable
RETRY_AFTER = "10"
#: bucket names as S3 and its compatible stores accept them (3-63 of a-z 0-9 . -)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()/-]*")


def content_key(data: bytes, suffix: str) -> str:
    """The key of ``data``: its SHA-256, split in two levels of directories."""
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"


@dataclass
class StoredObject:
    """An object being read: its size, and its bytes in chunks (closed once read through)."""

    size: int
    chunks: Iterator[bytes]

    def read(self) -> bytes:
        return b"".join(self.chunks)


class PhotoStore(Protocol):
    def put(self, data: bytes, *, suffix: str) -> str:
        """Store ``data`` (idempotently) and return its key."""

    def open(self, key: str) -> StoredObject | None:
        """The object of ``key`` to read, or None when the store does not hold it."""

    def describe(self) -> str:
        """Where the photos are, for messages (a directory, or ``s3://bucket/prefix``)."""

    def keys(self) -> Iterator[str]:
        """Every key the store holds (restore wants an empty store)."""


class LocalPhotoStore:
    """Files under ``root`` named by their SHA-256: ``ab/cd/abcd….jpg``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, *, suffix: str) -> str:
        key = content_key(data, suffix)
        target = self.root / key
        if target.exists():
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write aside, flush to disk, then rename: readers never see half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def open(self, key: str) -> StoredObject | None:
        try:
            handle = (self.root / key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return StoredObject(os.fstat(handle.fileno()).st_size, _chunks_of(handle))

    def describe(self) -> str:
        return str(self.root)

    def keys(self) -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                yield path.relative_to(self.root).as_posix()


def _chunks_of(handle: Any) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def parse_s3_url(value: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as ``(bucket, prefix)``, the prefix empty or ending in ``/``;
    ValueError says what is wrong."""
    form = "s3://bucket/prefix (the prefix may be left out: s3://bucket)"
    if not value.startswith("s3://"):
        raise ValueError(f"expected {form}, or nothing for the local photo directory")
    bucket, _, prefix = value.removeprefix("s3://").partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"{bucket!r} is not a bucket name: 3 to 63 lowercase letters, digits, dots and"
            f" hyphens, starting and ending with a letter or digit; expected {form}"
        )
    prefix = prefix.strip("/")
    if not _PREFIX.fullmatch(prefix) or "//" in prefix:
        raise ValueError(
            f"the prefix {prefix!r} may hold letters, digits, '/' between parts and !_.*'()- only"
        )
    return bucket, f"{prefix}/" if prefix else ""


class S3PhotoStore:
    """Objects in an S3-compatible bucket under ``prefix``, keyed like the local files.

    The endpoint, keys and region come from the standard environment that boto3 reads
    (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_DEFAULT_REGION``); an unreachable store is a 503 with ``Retry-After``.
    """

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.client = client if client is not None else _client()

    @classmethod
    def from_url(cls, url: str) -> "S3PhotoStore":
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix)

    def put(self, data: bytes, *, suffix: str) -> str:
        key = content_key(data, suffix)
        with self._reachable():
            if self._head(key):  # the same bytes are there: nothing to send
                return key
            # A PUT is all or nothing (the object appears once complete), and Content-MD5
            # has the store refuse bytes damaged on the way.
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=data,
                ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),
                ContentType=_content_type(suffix),
                CacheControl="private, max-age=31536000, immutable",
            )
        return key

    def open(self, key: str) -> StoredObject | None:
        with self._reachable():
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            except self.client.exceptions.NoSuchKey:
                return None
        body = answer["Body"]
        return StoredObject(int(answer["ContentLength"]), self._chunks(body))

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def keys(self) -> Iterator[str]:
        """Every key the store holds under its prefix (without the prefix)."""
        with self._reachable():
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"].removeprefix(self.prefix)

    def _head(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _chunks(self, body: Any) -> Iterator[bytes]:
        try:
            with self._reachable():
                yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """The store unreachable, refusing our keys or failing: a 503 that says so (the
        phone sends the photo again later; nothing is lost)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise ServiceUnavailable(
                f"The photo store {self.describe()} cannot be reached; try again in a moment"
                f" ({type(exc).__name__})",
                retry_after=RETRY_AFTER,
            ) from exc


def _content_type(suffix: str) -> str:
    return {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}.get(
        suffix, "application/octet-stream"
    )


def _client() -> Any:
    """An S3 client configured from the environment, with bounded timeouts and a pool
    as large as the app's thread pool."""
    from botocore.config import Config

    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=40,
        # S3-compatible stores (MinIO, the government clouds) differ in the newer default
        # checksums; Content-MD5 above covers integrity everywhere.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
    )
    with _SESSION_LOCK:  # a boto3 session makes clients one at a time
        return _boto_session().client("s3", config=config)


_SESSION_LOCK = threading.Lock()


@functools.cache
def _boto_session() -> Any:
    """One boto3 session per process: it parses the S3 service description once, so each
    app (one per test, one per worker) gets its client in milliseconds, not a second."""
    import boto3

    return boto3.session.Session()


def photo_store_for(settings: "Settings") -> PhotoStore:
    """The store the settings name: an object store for ``s3://…``, else the directory."""
    if settings.photo_store:
        return S3PhotoStore.from_url(settings.photo_store)
    return LocalPhotoStore(settings.photo_path)
