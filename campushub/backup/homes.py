"""Users' homes in a backup: one tar.gz per home, and extraction that cannot write outside the home.

Restoring runs as root and writes into a directory that then belongs to a user, so an archive must
not be able to place anything elsewhere: every member is checked in archive order (`MemberCheck`)
before anything is written and again while extracting, and each write is refused if the directory
it goes into is reached through a symbolic link. Refused: absolute paths, `..`, symbolic links that
point out of the home, hard links to anything but a file earlier in the archive, paths through a
link of the archive, device files and pipes. This is what tarfile's `filter="data"` does on newer
Pythons, written out because CampusHub runs on Python 3.11 releases that lack it.

Packing leaves out what extraction would refuse (sockets, pipes, devices, links out of the home) and
the manifest says what was left out, so that every backup can be restored.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from campushub.backup.files import CHUNK, open_private


class UnsafeArchive(ValueError):
    """A member of a home's archive could write outside the home, or the archive cannot be read."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"{member!r}: {reason}")
        self.member = member
        self.reason = reason


def link_leaves(relative: str, target: str) -> bool:
    """Whether a symbolic link at `relative` (inside the home) to `target` points out of the home."""
    if not target or target.startswith("/"):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(relative), target))
    return resolved == ".." or resolved.startswith("../")


class MemberCheck:
    """Decides, member after member in archive order, whether each one is safe to extract into a home."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._links: set[str] = set()
        self._files: set[str] = set()

    def check(self, member: tarfile.TarInfo) -> str | None:
        """The member's path relative to the home (None for the home itself); UnsafeArchive if it is unsafe."""
        name = member.name
        if not name or "\x00" in name:
            raise UnsafeArchive(name, "an empty name")
        if name.startswith("/"):
            raise UnsafeArchive(name, "an absolute path")
        if ".." in name.split("/"):
            raise UnsafeArchive(name, "a path with `..`")
        relative = posixpath.normpath(name)
        if relative == ".":
            if not member.isdir():
                raise UnsafeArchive(name, "the home itself as something other than a directory")
            return None
        if relative in self._seen:
            raise UnsafeArchive(name, "a second member with the same path")
        parents = relative.split("/")[:-1]
        for depth in range(1, len(parents) + 1):
            if "/".join(parents[:depth]) in self._links:
                raise UnsafeArchive(name, "a path through a symbolic link of the archive")
        if member.issym():
            if link_leaves(relative, member.linkname):
                raise UnsafeArchive(name, f"a symbolic link to {member.linkname!r}, outside the home")
            self._links.add(relative)
        elif member.islnk():
            if posixpath.normpath(member.linkname) not in self._files:
                raise UnsafeArchive(name, f"a hard link to {member.linkname!r}, not a file earlier in the archive")
            self._files.add(relative)
        elif member.isreg():
            self._files.add(relative)
        elif not member.isdir():
            raise UnsafeArchive(name, "a device file or pipe")
        self._seen.add(relative)
        return relative


@dataclass
class Packed:
    files: int = 0
    bytes: int = 0
    left_out: list[str] = field(default_factory=list)


class _Exactly:
    """A file read for the archive: exactly `size` bytes, as its header says, even if it shrinks meanwhile.

    A student's server may write while the hub is backed up; a file that shrank is padded with zeros
    rather than breaking the archive, as tar does ("file changed as we read it").
    """

    def __init__(self, handle, size: int) -> None:
        self._handle = handle
        self._left = size
        self.changed = False

    def read(self, count: int = -1) -> bytes:
        wanted = self._left if count < 0 else min(count, self._left)
        data = self._handle.read(wanted)
        if len(data) < wanted:
            self.changed = True
            data += b"\0" * (wanted - len(data))
        self._left -= len(data)
        return data


def pack_home(home: Path, archive: Path) -> Packed:
    """Pack the contents of `home` into a new private tar.gz at `archive`; symbolic links are kept as links."""
    packed = Packed()
    with os.fdopen(open_private(archive), "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
        for directory, subdirs, files in os.walk(home):  # symbolic links to directories are listed, never entered
            subdirs.sort()
            for entry in sorted([*subdirs, *files]):
                path = Path(directory, entry)
                _add(tar, path, path.relative_to(home).as_posix(), packed)
    return packed


def _add(tar: tarfile.TarFile, path: Path, relative: str, packed: Packed) -> None:
    try:
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            tar.addfile(tar.gettarinfo(str(path), relative))
        elif stat.S_ISLNK(mode):
            if link_leaves(relative, os.readlink(path)):
                packed.left_out.append(f"{relative} (a link out of the home, to {os.readlink(path)})")
                return
            tar.addfile(tar.gettarinfo(str(path), relative))
        elif stat.S_ISREG(mode):
            _add_file(tar, path, relative, packed)
        else:
            packed.left_out.append(f"{relative} (a socket, pipe or device)")
    except FileNotFoundError:
        pass  # deleted while the home was being packed: it was not there to keep


def _add_file(tar: tarfile.TarFile, path: Path, relative: str, packed: Packed) -> None:
    # O_NONBLOCK: a file swapped for a pipe after lstat must not hang the backup; fstat says what was opened.
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        info = tar.gettarinfo(arcname=relative, fileobj=handle)
        if info.isreg():
            reader = _Exactly(handle, info.size)
            tar.addfile(info, reader)  # type: ignore[arg-type]
            packed.bytes += info.size
            if reader.changed:
                packed.left_out.append(f"{relative} (changed while it was read; the copy may be incomplete)")
        elif info.islnk():
            tar.addfile(info)
        else:
            packed.left_out.append(f"{relative} (a socket, pipe or device)")
            return
    packed.files += 1


def scan_archive(archive: Path) -> Packed:
    """Check every member of a home's archive without extracting anything: UnsafeArchive at the first bad one."""
    found = Packed()
    check = MemberCheck()
    for member in _members(archive):
        check.check(member)
        if member.isreg() or member.islnk():  # a hard link counts as a file, as packing counts it
            found.files += 1
            found.bytes += member.size
    return found


def _members(archive: Path):
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            yield from tar
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UnsafeArchive(archive.name, f"cannot be read as a tar.gz ({exc})") from None


def _safe_mode(mode: int, directory: bool) -> int:
    """No setuid, setgid or sticky bit, no writing by group or others; the owner may always read and write."""
    return (mode & 0o755) | (0o700 if directory else 0o600)


def extract_home(archive: Path, home: Path, owner: tuple[int, int] | None) -> Packed:
    """Extract a home's archive into the existing directory `home`, owned by `owner` (uid, gid) afterwards.

    Extraction stops at the first unsafe member (UnsafeArchive); callers scan the archive first, so
    that a bad archive is refused before anything is written.
    """
    root = os.path.realpath(home)
    check = MemberCheck()
    done = Packed()
    directories: list[tuple[str, int, float]] = []
    try:
        with tarfile.open(archive, mode="r|gz") as tar:
            for member in tar:
                relative = check.check(member)
                if relative is None:
                    continue
                target = os.path.join(root, relative)
                parent = os.path.dirname(target)
                if os.path.realpath(parent) != parent:
                    raise UnsafeArchive(member.name, "a path through a symbolic link in the home")
                os.makedirs(parent, mode=0o700, exist_ok=True)
                if member.isdir():
                    if not os.path.isdir(target) or os.path.islink(target):
                        _clear(target, member.name)
                        os.mkdir(target, 0o700)
                    directories.append((target, _safe_mode(member.mode, True), member.mtime))
                    continue
                _clear(target, member.name)
                if member.issym():
                    os.symlink(member.linkname, target)
                elif member.islnk():
                    os.link(os.path.join(root, posixpath.normpath(member.linkname)), target, follow_symlinks=False)
                    done.files += 1
                else:
                    _write_file(tar, member, target)
                    done.files += 1
                    done.bytes += member.size
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UnsafeArchive(archive.name, f"cannot be read as a tar.gz ({exc})") from None
    for target, mode, mtime in reversed(directories):
        os.chmod(target, mode)
        os.utime(target, (mtime, mtime))
    if owner is not None:
        _chown_tree(root, *owner)
    return done


def _clear(target: str, name: str) -> None:
    """Make room for a member: a file of the same name goes (the home is new: only /etc/skel's files are there)."""
    if os.path.lexists(target):
        if os.path.isdir(target) and not os.path.islink(target):
            raise UnsafeArchive(name, "a file where the home already has a directory")
        os.unlink(target)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: str) -> None:
    source = tar.extractfile(member)
    assert source is not None
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        while chunk := source.read(CHUNK):
            out.write(chunk)
        os.fchmod(out.fileno(), _safe_mode(member.mode, False))
        out.flush()
        os.utime(out.fileno(), (member.mtime, member.mtime))


def _chown_tree(root: str, uid: int, gid: int) -> None:
    """Give the home and everything in it to its account (whose uid may differ from the old machine's)."""
    os.lchown(root, uid, gid)
    for directory, subdirs, files in os.walk(root):  # never follows symbolic links
        for entry in [*subdirs, *files]:
            os.lchown(os.path.join(directory, entry), uid, gid)


def is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())
