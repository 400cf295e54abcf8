"""Archives of a person's files, made before anything of theirs is deleted.

User work is kept: removing a user packs their home (and what they left in the machine's shared
temporary directories) into `data_dir/archive/<name>-<UTC time>.tar.gz`, with a manifest of every
file (path, size, SHA-256) inside the archive and beside it, and checks the archive reads back before
the caller deletes a single file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MANIFEST = "MANIFEST.json"
# Shared places a user can leave files in, outside their home.
SHARED_TEMPORARY = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"))


class ArchiveError(RuntimeError):
    """The archive could not be written or read back; nothing was deleted."""


@dataclass
class Archive:
    path: Path
    files: list[dict] = field(default_factory=list)

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.name.removesuffix(".tar.gz") + ".manifest.json")

    @property
    def total_bytes(self) -> int:
        return sum(entry["size"] for entry in self.files)


class _Hashing(io.RawIOBase):
    """A file read through once: tarfile reads it, we hash what it read."""

    def __init__(self, handle: io.BufferedReader) -> None:
        self._handle = handle
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._handle.read(len(buffer))
        self.sha256.update(data)
        buffer[: len(data)] = data
        return len(data)


def owned_files(roots: Iterable[Path], uid: int) -> list[Path]:
    """Files and directories under `roots` owned by `uid` (top-most ones only), staying on each root's device."""
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        device = root.stat().st_dev
        for directory, subdirs, files in os.walk(root):
            kept = []
            for entry in [*subdirs, *files]:
                path = Path(directory) / entry
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if info.st_uid == uid:
                    found.append(path)
                elif entry in subdirs and info.st_dev == device and not stat.S_ISLNK(info.st_mode):
                    kept.append(entry)
            subdirs[:] = [name for name in subdirs if name in kept]
    return found


def _members(home: Path | None, elsewhere: list[Path]) -> Iterator[tuple[Path, str]]:
    """(path on disk, name in the archive): the home as `home/...`, other places as `elsewhere/<full path>`."""
    if home is not None and home.exists():
        yield home, "home"
    for path in elsewhere:
        yield path, "elsewhere" + str(path)


def write_archive(
    archive_dir: Path, name: str, home: Path | None, elsewhere: list[Path], about: dict[str, object]
) -> Archive:
    """Pack `home` and `elsewhere` into a new archive for `name`; raise ArchiveError unless it reads back whole."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    archive = Archive(archive_dir / f"{name}-{stamp}.tar.gz")
    try:
        archive_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(archive.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for top, prefix in _members(home, elsewhere):
                _add_tree(tar, top, prefix, archive)
            manifest = _manifest(name, about, archive)
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            info.mtime = int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(manifest))
        _write_private(archive.manifest_path, manifest)
        _check_reads_back(archive)
    except (OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"archiving {name}'s files in {archive.path} failed: {exc}") from None
    return archive


def _add_tree(tar: tarfile.TarFile, top: Path, prefix: str, archive: Archive) -> None:
    paths = [top]
    if top.is_dir() and not top.is_symlink():
        for directory, subdirs, files in os.walk(top):  # symlinks are archived as links, never followed
            subdirs.sort()
            paths += [Path(directory) / entry for entry in sorted([*subdirs, *files])]
    for path in paths:
        arcname = prefix + ("/" + str(path.relative_to(top)) if path != top else "")
        info = tar.gettarinfo(str(path), arcname)
        if info is None:  # a socket (tmux's, a kernel's): nothing a tar can hold, nothing to keep
            continue
        if info.isreg():
            with path.open("rb") as handle:
                hashing = _Hashing(handle)
                tar.addfile(info, io.BufferedReader(hashing))
            archive.files.append({"path": arcname, "size": info.size, "sha256": hashing.sha256.hexdigest()})
        else:
            tar.addfile(info)  # directories, symlinks (as links, never followed), devices


def _manifest(name: str, about: dict[str, object], archive: Archive) -> bytes:
    document = {
        "user": name,
        "archived": datetime.now(UTC).isoformat(timespec="seconds"),
        **about,
        "files": archive.files,
        "total_bytes": archive.total_bytes,
    }
    return json.dumps(document, indent=2).encode() + b"\n"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _check_reads_back(archive: Archive) -> None:
    """Every file of the manifest is in the archive with its size: only then may the originals go."""
    with tarfile.open(archive.path, "r:gz") as tar:
        sizes = {member.name: member.size for member in tar.getmembers() if member.isreg()}
    for entry in archive.files:
        if sizes.get(entry["path"]) != entry["size"]:
            raise ArchiveError(f"{archive.path}: {entry['path']} did not read back; nothing was deleted")
