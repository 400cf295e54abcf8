"""Binder-style launches: any allowed git repository cloned into a person's workspace, where it stays.

The URL is checked before git ever sees it. git treats some "URLs" as commands or local paths:
`ext::sh -c …` runs a program, `file::` and plain paths read the hub machine's own files, and anything
beginning with `-` is taken as an option. A launch link comes from anyone, so only URLs of an allowed
scheme on an allowed host pass, in one plain form; git is then also told to speak only those protocols.
The clone runs as the person's own account, like a copy from the library (campushub/library/copy.py).
"""

from __future__ import annotations

import pwd
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from campushub.compute.backend import WorkspaceAccount
from campushub.compute.system_users import ensure_system_user
from campushub.library.copy import LIBRARY_FOLDER, CopyFailed

CLONE_TIMEOUT = 300

_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_PATH = re.compile(r"^/[A-Za-z0-9._~/-]+$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
_COMMIT = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")


class RefusedRepository(ValueError):
    """A repository URL, ref or path a launch will not use; the message says why, for the visitor."""


@dataclass(frozen=True)
class Repository:
    url: str  # normalised: scheme://host[:port]/path, nothing else
    host: str
    path: str


def check_repository(url: str, schemes: list[str], hosts: list[str]) -> Repository:
    """The repository `url` names, if a launch may clone it; RefusedRepository otherwise."""
    raw = url.strip()
    if not raw or raw.startswith("-") or any(ord(c) < 0x21 or c in "\\`$;|&<>\"'" for c in raw):
        raise RefusedRepository("the repository URL is empty or holds characters a URL does not")
    lowered = raw.lower()
    if "::" in raw or lowered.startswith(("ext:", "file:", "fd:")):
        raise RefusedRepository("only http(s) repository URLs can be launched, not git's transport helpers")
    parts = urlsplit(raw)
    if parts.scheme.lower() not in schemes:
        allowed = ", ".join(f"{scheme}://" for scheme in schemes)
        raise RefusedRepository(f"a repository URL must begin with {allowed}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise RefusedRepository("a repository URL may not carry a user name, password, query or fragment")
    host = (parts.hostname or "").lower()
    if not _HOST.match(host) or host not in hosts:
        raise RefusedRepository(
            f"{host or 'that host'} is not among the hosts launches may clone from ({', '.join(hosts) or 'none'})"
        )
    path = parts.path.rstrip("/")
    if not _PATH.match(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        raise RefusedRepository("the repository URL's path is not a plain /owner/name path")
    port = f":{parts.port}" if parts.port else ""
    return Repository(url=f"{parts.scheme.lower()}://{host}{port}{path}", host=host, path=path)


def check_ref(ref: str) -> str:
    """A branch, tag or commit; never an option or a range."""
    if not _REF.match(ref) or ".." in ref or ref.endswith((".lock", "/")):
        raise RefusedRepository(f"{ref!r} is not a branch, tag or commit name")
    return ref


def folder_for(repository: Repository) -> str:
    """Where a launch puts the clone, under ~/library: `<host>-<owner>-<name>`, safe as one path step."""
    name = re.sub(r"[^a-z0-9.-]+", "-", f"{repository.host}{repository.path}".lower().removesuffix(".git"))
    return name.strip("-.")[:100] or "repository"


def is_commit(ref: str) -> bool:
    """A full commit id (SHA-1 or SHA-256): fetched by itself, since `clone --branch` takes only names."""
    return bool(_COMMIT.match(ref))


def clone_into_workspace(
    workspace: WorkspaceAccount, repository: Repository, ref: str, schemes: list[str]
) -> tuple[str, bool]:
    """~/library/<folder> as a clone of `repository` at `ref` (a branch, tag or full commit id), made by the
    person's own account.

    A clone that is there already is left as it is (with whatever the person changed since): a launch
    link opened again tomorrow opens their work, not a fresh copy. Returns (folder under home, made now).
    """
    account = ensure_system_user(workspace.account, workspace.home, workspace.adopt)
    folder = f"{LIBRARY_FOLDER}/{folder_for(repository)}"
    target = Path(account.pw_dir) / folder
    if target.is_dir() and not target.is_symlink():
        return folder, False
    git = PersonsGit(account, schemes)
    if not ref or not is_commit(ref):
        branch = ["--branch", check_ref(ref)] if ref else []
        # git makes ~/library itself if need be, as the person.
        git.run(["clone", "--depth=1", "--no-recurse-submodules", "--quiet", *branch, "--", repository.url, folder],
                f"git could not clone {repository.url}")  # fmt: skip
        return folder, True
    # A commit: cloned beside the target, then moved into place only once it is checked out, so that a failed
    # launch never leaves a folder a later launch would take for the person's own clone.
    partial = f"{folder}.partial-{secrets.token_hex(4)}"
    try:
        git.run(["clone", "--depth=1", "--no-checkout", "--no-recurse-submodules", "--quiet", "--", repository.url,
                 partial], f"git could not clone {repository.url}")  # fmt: skip
        try:
            git.run(["-C", partial, "fetch", "--quiet", "--depth=1", "origin", ref], "fetch by id")
        except CopyFailed:  # a server that fetches only what it advertises: the whole history, then the commit
            git.run(
                ["-C", partial, "fetch", "--quiet", "--unshallow", "origin"], f"git could not fetch {repository.url}"
            )
        git.run(["-C", partial, "checkout", "--quiet", "--detach", ref], f"{repository.url} has no commit {ref}")
        git.run_plain(["mv", "--no-target-directory", "--no-clobber", partial, folder], "could not move the clone")
    finally:
        partial_path = Path(account.pw_dir) / partial
        if partial_path.is_dir() and not partial_path.is_symlink():
            git.run_plain(["rm", "-rf", "--", partial], "could not tidy up")  # made by this launch, nothing else
    return folder, True


class PersonsGit:
    """git (and the odd plain command) as the person's own account, speaking only the allowed protocols."""

    def __init__(self, account: pwd.struct_passwd, schemes: list[str]) -> None:
        self.account = account
        self.options = ["-c", "protocol.allow=never"]
        for scheme in schemes:
            self.options += ["-c", f"protocol.{scheme}.allow=always"]
        self.environment = {
            "HOME": account.pw_dir,
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_ALLOW_PROTOCOL": ":".join(schemes),
        }

    def run(self, arguments: list[str], failure: str) -> None:
        self.run_plain(["git", *self.options, *arguments], failure)

    def run_plain(self, command: list[str], failure: str) -> None:
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                user=self.account.pw_uid,
                group=self.account.pw_gid,
                extra_groups=[],
                cwd=self.account.pw_dir,
                env=self.environment,
                timeout=CLONE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CopyFailed(f"{failure}: it took longer than {CLONE_TIMEOUT} s") from None
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace").strip().splitlines()
            raise CopyFailed(f"{failure}: {said[-1] if said else 'no reason given'}")
