"""Files of a backup: created private (0600, in a 0700 directory, since a backup holds secrets), and hashed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (homes' archives can be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_private(path: Path) -> int:
    """A new file only its owner can read; fails if `path` exists, so nothing is ever overwritten by accident."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


def write_private(path: Path, data: bytes) -> None:
    with os.fdopen(open_private(path), "wb") as out:
        out.write(data)


def copy_private(source: Path, dest: Path) -> None:
    """Copy a file's bytes into a new private file (its mode is not copied: a backup keeps everything 0600)."""
    with source.open("rb") as handle, os.fdopen(open_private(dest), "wb") as out:
        while chunk := handle.read(CHUNK):
            out.write(chunk)


def make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
