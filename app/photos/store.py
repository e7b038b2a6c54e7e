"""The photo store: content-addressed files behind a small interface (local directory today)."""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class PhotoStore(Protocol):
    def put(self, data: bytes, *, suffix: str) -> str:
        """Store ``data`` (idempotently) and return its key."""

    def path(self, key: str) -> Path:
        """Where the file of ``key`` can be read."""


class LocalPhotoStore:
    """Files under ``root`` named by their SHA-256: ``ab/cd/abcd….jpg``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes, *, suffix: str) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"
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

    def path(self, key: str) -> Path:
        return self.root / key
