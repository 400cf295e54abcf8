"""Files between the library and a person's workspace, always read or written by the person's own account.

The library service runs as root, and a home directory is its owner's to shape: `~/library` could be a
link to /etc. So root only reads the version (its own, immutable files) into a tar stream; a child process
running as the person's account, with only that account's rights, unpacks it into a new folder
`~/library/<owner>-<project>/` (`-2`, `-3`... when that name is taken: nothing of theirs is ever replaced).
Run as `python -m campushub.library.copy FOLDER_NAME` with the tar on stdin; it prints the folder it made.

Publishing from the workspace goes the other way: `python -m campushub.library.copy --pack FOLDER MAX_BYTES`,
as the person, writes the folder's files (hidden files and links left out, as `campushub library publish`
does) as a tar on stdout, so root never follows a path the person controls.
"""

from __future__ import annotations

import io
import os
import pwd
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from campushub.compute.backend import WorkspaceAccount
from campushub.compute.system_users import ensure_system_user
from campushub.errors import UserError
from campushub.library.store import LibraryRefused, check_relative_path, files_to_publish, human_size

LIBRARY_FOLDER = "library"
COPY_TIMEOUT = 300


class CopyFailed(UserError):
    """The copy could not be made; the message says why, for the person who asked."""


def pack(version_dir: Path, files: list[str]) -> bytes:
    """The version's files as an uncompressed tar, every member a plain file owned by nobody in particular."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in files:
            check_relative_path(name)
            source = version_dir / name
            info = tarfile.TarInfo(name)
            info.size = source.stat().st_size
            info.mode = 0o644
            with source.open("rb") as data:
                archive.addfile(info, data)
    return buffer.getvalue()


def copy_into_workspace(workspace: WorkspaceAccount, folder_name: str, archive: bytes) -> str:
    """Unpack `archive` as `workspace`'s account into a new folder under ~/library; its path relative to home."""
    try:
        return as_the_person(workspace, [folder_name], archive).decode().strip()
    except CopyFailed as failed:
        raise CopyFailed(f"the copy into your workspace failed: {failed}") from None


def as_the_person(
    workspace: WorkspaceAccount,
    arguments: list[str],
    stdin: bytes = b"",
    module: str = "campushub.library.copy",
    script: Path | None = None,
) -> bytes:
    """Run `module` (this one unless said) with `arguments` as the person's own account (made first if need be);
    its stdout. A `script` that imports only the standard library runs instead, isolated (`-I -S`), which
    starts several times faster."""
    account = ensure_system_user(workspace.account, workspace.home, workspace.adopt)
    command = [sys.executable, "-I", "-S", str(script)] if script else [sys.executable, "-m", module]
    result = subprocess.run(
        [*command, *arguments],
        input=stdin,
        capture_output=True,
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        cwd=account.pw_dir,
        env={"HOME": account.pw_dir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        timeout=COPY_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no reason given"]
        raise CopyFailed(reason[0])
    return result.stdout


def free_name(parent: Path, wanted: str) -> Path:
    """`wanted`, or `wanted-2`, `wanted-3`...: the first that does not exist yet."""
    candidate, number = parent / wanted, 1
    while candidate.exists() or candidate.is_symlink():
        number += 1
        candidate = parent / f"{wanted}-{number}"
    return candidate


def extract_plain_files(archive: bytes, into: Path) -> None:
    """Plain files with checked names only (no links, devices or `..`), whatever the tar says: this Python's
    tarfile may predate extraction filters."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as members:
        for member in members:
            if not member.isfile():
                continue
            destination = into / check_relative_path(member.name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = members.extractfile(member)
            assert source is not None
            with source, destination.open("xb") as out:
                shutil.copyfileobj(source, out)


def unpack(folder_name: str, archive: bytes, home: Path) -> Path:
    """What the child does, as the person: ~/library/<folder_name> (or a free variant) from the tar."""
    check_relative_path(folder_name)
    parent = home / LIBRARY_FOLDER
    parent.mkdir(exist_ok=True)
    if parent.is_symlink() or not parent.is_dir():
        raise SystemExit(f"~/{LIBRARY_FOLDER} is not a folder: rename it, then copy again")
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{folder_name}."))
    try:
        extract_plain_files(archive, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # only the folder made above for this copy, never the person's
        raise
    target = free_name(parent, folder_name)
    staging.rename(target)
    return target


def pack_folder(home: Path, folder: str, max_bytes: int) -> bytes:
    """What the child does, as the person, to publish ~/<folder>: its files as a tar, refused past `max_bytes`."""
    source = home / check_relative_path(folder)
    if source.is_symlink() or not source.is_dir():
        raise LibraryRefused(f"~/{folder} is not a folder of your workspace")
    files = files_to_publish(source)
    size = sum(item[2] for item in files)
    if size > max_bytes:
        raise LibraryRefused(
            f"~/{folder} holds {human_size(size)}; a project version may hold up to {human_size(max_bytes)}. "
            "Leave data sets out, or ask the admins for a larger limit"
        )
    return pack(source, [path.as_posix() for path, _, _ in files])


def read_from_workspace(workspace: WorkspaceAccount, folder: str, max_bytes: int) -> bytes:
    """~/<folder> of `workspace`, packed by its own account."""
    return as_the_person(workspace, ["--pack", folder, str(max_bytes)])


def main() -> None:
    if os.geteuid() == 0:
        raise SystemExit("campushub.library.copy runs as the person whose workspace it is, never as root")
    home = Path(pwd.getpwuid(os.geteuid()).pw_dir)
    if sys.argv[1] == "--pack":
        try:
            sys.stdout.buffer.write(pack_folder(home, sys.argv[2], int(sys.argv[3])))
        except LibraryRefused as refused:
            raise SystemExit(str(refused)) from None
        return
    target = unpack(sys.argv[1], sys.stdin.buffer.read(), home)
    print(target.relative_to(home).as_posix())


if __name__ == "__main__":
    main()
