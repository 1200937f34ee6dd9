"""Where attachment bytes live: a small interface, a local folder by default.

Content-addressed by sha256, so the same file uploaded twice is stored once and a stored file can
be checked against the hash kept in the database.
"""
import hashlib
import os
from pathlib import Path
from typing import Protocol


class AttachmentStore(Protocol):
    def put(self, content: bytes) -> str:
        """Stores the bytes; returns their sha256 (hex), which is the key to read them back."""

    def get(self, sha256: str) -> bytes:
        """The bytes stored under sha256; FileNotFoundError when absent."""

    def delete(self, sha256: str) -> None:
        """Removes the bytes stored under sha256 (nothing when absent). Callers make sure no
        attachment row still references them: the same bytes are stored once for every upload."""


class LocalFolderStore:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.folder / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{digest}.{os.getpid()}.tmp")
            tmp.write_bytes(content)
            os.replace(tmp, path)  # readers never see half a file
        return digest

    def get(self, sha256: str) -> bytes:
        return self._path(sha256).read_bytes()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)
