"""What `campushub check` can find out about this machine before the `local` backend runs servers on it.

An environment users' accounts cannot execute surfaces otherwise as a stack trace minutes later;
an account prefix that reaches system accounts, or code root runs from a place others can write,
is a hole. The `local` backend (compute/backends/local.py) turns these into its probes.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import campushub
from campushub.compute.accounts_guard import prefix_clashes
from campushub.compute.forkserver import uid_range

if TYPE_CHECKING:
    from campushub.hub.layout import Layout

SHOWN_WRITERS = 5  # entries named in the message; the fix covers them all


def environment_problem(layout: Layout) -> str | None:
    singleuser = layout.environment / "bin" / "jupyterhub-singleuser"
    if not os.access(singleuser, os.X_OK):
        return (
            f"the user environment {layout.environment} has no jupyterhub-singleuser. Set "
            "`compute.environment` to a Python environment with jupyterhub and jupyterlab, or run `make up`."
        )
    if layout.running_as_root:
        blocked = first_private_directory(singleuser)
        if blocked:
            return (
                f"users' servers cannot reach {singleuser}: {blocked} is closed to other accounts. "
                "Install CampusHub in a directory all users may enter (e.g. /opt/campushub), or set "
                "`compute.environment` to such an environment."
            )
    return None


def first_private_directory(path: Path) -> Path | None:
    """The first parent directory that other accounts cannot traverse, if any."""
    for parent in reversed(path.resolve().parents):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return parent
    return None


def user_prefix_problem(prefix: str) -> str | None:
    """A prefix that begins a system account's name would let a campus user be given that account."""
    clashes = prefix_clashes(prefix, pwd.getpwall(), uid_range())
    if not clashes:
        return None
    return (
        f"`compute.local.user_prefix` {prefix!r} begins the names of system accounts on this machine "
        f"({', '.join(clashes[:SHOWN_WRITERS])}): a campus user could be given one of them. "
        "Choose a prefix no system account name starts with (such as `nb-`)."
    )


@dataclass(frozen=True)
class Writer:
    """An entry that someone other than root can change, and the command that stops it."""

    path: Path
    who: str
    fix: str


def _owner(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return f"group {grp.getgrgid(gid).gr_name}"
    except KeyError:
        return f"group {gid}"


def who_else_writes(info: os.stat_result, *, ancestor: bool) -> str | None:
    """Who other than root can change this entry, or None.

    In a sticky directory others may add entries but not rename or remove root's: fine for a
    directory above the tree (its next component is checked too), not inside the tree, where a
    new `.pth` or module is all it takes.
    """
    if info.st_uid != 0:
        return f"is owned by {_owner(info.st_uid)}"
    if stat.S_ISLNK(info.st_mode):
        return None  # a link's own mode means nothing; only root, its owner, could replace it
    sticky_ancestor = ancestor and stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
    if info.st_mode & stat.S_IWGRP and info.st_gid != 0 and not sticky_ancestor:
        return f"is writable by {_group(info.st_gid)}"
    if info.st_mode & stat.S_IWOTH and not sticky_ancestor:
        return "is writable by everyone"
    return None


def _tree(top: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every entry under `top` (itself included), by lstat, never following a link."""
    yield top, os.lstat(top)
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            info = entry.stat(follow_symlinks=False)
            yield Path(entry.path), info
            if stat.S_ISDIR(info.st_mode):
                stack.append(Path(entry.path))


def _ancestors(path: Path) -> list[Path]:
    """The directories above `path` up to /, both as written and with links resolved."""
    found: dict[Path, None] = {}
    for form in (Path(os.path.abspath(path)), path.resolve()):
        found.update(dict.fromkeys(form.parents))
    return list(found)


def writers(trees: list[Path], files: list[Path]) -> list[Writer]:
    """Entries of `trees` (walked whole), `files`, and every directory above them, that others can change."""
    found: dict[Path, Writer] = {}
    for top in trees:
        fix = f"chown -R root: {top}; chmod -R go-w {top}"
        for path, info in _tree(top):
            who = who_else_writes(info, ancestor=False)
            if who and path not in found:
                found[path] = Writer(path, who, fix)
    for path in files:
        who = who_else_writes(os.lstat(path), ancestor=False)
        if who and path not in found:
            found[path] = Writer(path, who, f"chown root: {path}; chmod go-w {path}")
    for path in (parent for top in [*trees, *files] for parent in _ancestors(top)):
        who = who_else_writes(os.lstat(path), ancestor=True)
        if who and path not in found:
            found[path] = Writer(path, who, f"chown root: {path}; chmod go-w {path}")
    return list(found.values())


def root_code_problem(layout: Layout) -> str | None:
    """The fork server runs the user environment's Python, and CampusHub's fork server code, as root.

    If any other account can change either (or a directory above them), a `.pth` file or a module
    they drop there runs as root at the next start.
    """
    environment = layout.environment
    package = Path(campushub.__file__).resolve().parent
    interpreter = (environment / "bin" / "python").resolve()
    trees = [path for path in (environment, package) if path.exists()]
    files = [interpreter] if interpreter.exists() else []
    found = writers(trees, files)
    if not found:
        return None
    shown = "; ".join(f"{writer.path} {writer.who}" for writer in found[:SHOWN_WRITERS])
    more = f" (and {len(found) - SHOWN_WRITERS} more)" if len(found) > SHOWN_WRITERS else ""
    fixes = dict.fromkeys(writer.fix for writer in found)
    return (
        f"fast spawn runs the user environment {environment} and CampusHub ({package}) as root, but other "
        f"accounts can change them: {shown}{more}. Code they put there would run as root. Make them root's: "
        f"`{'; '.join(fixes)}`, or set `compute.local.fast_spawn: false`."
    )
