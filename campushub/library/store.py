"""The library's projects: published versions on disk, described by rows in the hub database.

A version is written once into `<data_dir>/library/<owner>/<project>/<number>/`, read-only, and never
changed afterwards: a page, a copy or a launch of version 3 shows exactly what was published as
version 3. Everything a visitor names in a URL (owner, project, version, file) is checked here against
what exists, so no request can step outside a version's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import func, or_, select

from campushub.errors import UserError
from campushub.identity.usernames import InvalidUsername, normalize_username
from campushub.library.tables import PRIVATE, PUBLIC, UNLISTED, VISIBILITIES, Project, Version
from campushub.tables import Store, utc_now

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# A published file's name: any printable characters but path separators, never `.` or `..`, never hidden.
_BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
MAX_FILES = 5000


class LibraryRefused(UserError):
    """A publish or a request the library will not do; the message says why and what to do."""


@dataclass(frozen=True)
class PublishedFile:
    path: str  # relative, with '/' separators
    size: int


@dataclass(frozen=True)
class ProjectInfo:
    owner: str
    slug: str
    title: str
    description: str
    tags: tuple[str, ...]
    licence: str
    visibility: str
    course: str | None
    updated: datetime
    latest: int


@dataclass(frozen=True)
class VersionInfo:
    number: int
    created: datetime
    size: int
    files: int
    main: str
    note: str
    changes: dict[str, list[str]]


@dataclass(frozen=True)
class Metadata:
    """What a publisher says of a project."""

    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    licence: str = ""
    visibility: str = PUBLIC
    course: str | None = None
    main: str = ""
    note: str = ""


def check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise LibraryRefused(
            f"{slug!r} cannot name a project: use lower-case letters, digits and '-' (up to 63), starting with a "
            "letter or digit, e.g. `week-3-regression`"
        )
    return slug


def check_owner(owner: str) -> str:
    try:
        return normalize_username(owner)
    except InvalidUsername as exc:
        raise LibraryRefused(str(exc)) from None


def slug_for(title: str) -> str:
    """A project name made from its title: `Week 3: Regression!` -> `week-3-regression`."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:63].strip("-")
    return slug or "project"


def normalized_tags(tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    found: list[str] = []
    for tag in tags:
        for word in re.split(r"[\s,]+", tag.lower()):
            word = re.sub(r"[^a-z0-9_.+-]", "", word)[:40]
            if word and word not in found:
                found.append(word)
    return tuple(found[:20])


def check_relative_path(path: str) -> PurePosixPath:
    """A file's path inside a version, as a visitor or a publisher names it: refused if it could lead outside."""
    parts = path.split("/")
    if not path or path.startswith("/") or len(path) > 1024:
        raise LibraryRefused(f"{path!r} is not a file of this project")
    for part in parts:
        if part in ("", ".", "..") or part.startswith(".") or _BAD_NAME_CHARS.search(part):
            raise LibraryRefused(f"{path!r} is not a file of this project")
    return PurePosixPath(*parts)


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def files_to_publish(folder: Path) -> list[tuple[PurePosixPath, Path, int]]:
    """(path in the project, file on disk, size) of every regular file under `folder`.

    Hidden files and folders (`.git`, `.ipynb_checkpoints`, `.env`) are left out: they are rarely meant for
    the public and may hold secrets. Symbolic links are left out too, so a publish never reaches beyond the
    folder (a link to someone's home, or to /etc).
    """
    found = []
    for directory, folders, names in os.walk(folder, followlinks=False):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            source = Path(directory) / name
            info = source.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            relative = source.relative_to(folder).as_posix()
            try:
                path = check_relative_path(relative)
            except LibraryRefused:
                raise LibraryRefused(
                    f"{source}: this file's name cannot be published (control characters or a backslash); "
                    "rename it and publish again. Nothing was published."
                ) from None
            found.append((path, source, info.st_size))
    return found


def file_digests(root: Path) -> dict[str, str]:
    digests = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            digests[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def changes_between(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(after) - set(before)),
        "changed": sorted(name for name in set(after) & set(before) if after[name] != before[name]),
        "removed": sorted(set(before) - set(after)),
    }


def main_file(paths: list[str], wanted: str = "") -> str:
    """The file a visitor sees first: the publisher's choice, else a top-level notebook, else any, else a README."""
    if wanted:
        if wanted not in paths:
            raise LibraryRefused(f"--main {wanted!r} is not among the published files")
        return wanted
    notebooks = [path for path in paths if path.endswith(".ipynb")]
    top = [path for path in notebooks if "/" not in path]
    for choices in (top, notebooks, [path for path in paths if path.lower() in ("readme.md", "readme.txt")]):
        if choices:
            return sorted(choices, key=lambda p: (not p.lower().startswith(("readme", "index")), p))[0]
    return ""


class LibraryStore(Store):
    """The library of the hub database at `db_url`, with its files under `root` (`<data_dir>/library`)."""

    def __init__(self, db_url: str, root: Path) -> None:
        super().__init__(db_url)
        self.root = root

    # Where things are -------------------------------------------------------------------------------

    def version_dir(self, owner: str, slug: str, number: int) -> Path:
        return self.root / owner / slug / str(number)

    def file_path(self, owner: str, slug: str, number: int, path: str) -> Path:
        """The file `path` of a version, or LibraryRefused: never anything outside the version's folder."""
        relative = check_relative_path(path)
        base = self.version_dir(owner, slug, number).resolve()
        target = (base / relative).resolve()
        if not target.is_relative_to(base) or target.is_symlink() or not target.is_file():
            raise LibraryRefused(f"{path!r} is not a file of this project")
        return target

    def list_files(self, owner: str, slug: str, number: int) -> list[PublishedFile]:
        base = self.version_dir(owner, slug, number)
        return [
            PublishedFile(path.relative_to(base).as_posix(), path.stat().st_size)
            for path in sorted(base.rglob("*"))
            if path.is_file() and not path.is_symlink()
        ]

    # Publishing -------------------------------------------------------------------------------------

    def slugs_of(self, owner: str) -> list[str]:
        """The names of every project `owner` published, private ones included."""
        with self._session() as session:
            return sorted(session.scalars(select(Project.slug).where(Project.owner == owner)))

    def used_by(self, owner: str) -> int:
        with self._session() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(Version.size), 0))
                .join(Project, Project.id == Version.project_id)
                .where(Project.owner == owner)
            )
            return int(total or 0)

    def publish(
        self,
        owner: str,
        slug: str,
        folder: Path,
        metadata: Metadata,
        *,
        max_project_size: int,
        max_user_size: int,
    ) -> tuple[ProjectInfo, VersionInfo]:
        """Publish `folder` as the next version of `owner`'s project `slug` (made if new)."""
        owner, slug = check_owner(owner), check_slug(slug)
        if metadata.visibility not in VISIBILITIES:
            raise LibraryRefused(f"visibility {metadata.visibility!r}: choose one of {', '.join(VISIBILITIES)}")
        if not metadata.title.strip():
            raise LibraryRefused("a project needs a title: give --title")
        if not folder.is_dir():
            raise LibraryRefused(f"{folder} is not a folder: publish a folder of your workspace")
        files = files_to_publish(folder)
        if not files:
            raise LibraryRefused(f"{folder} holds no files to publish (hidden files and links are left out)")
        if len(files) > MAX_FILES:
            raise LibraryRefused(f"{folder} holds {len(files)} files; a project may hold up to {MAX_FILES}")
        size = sum(item[2] for item in files)
        if size > max_project_size:
            raise LibraryRefused(
                f"{folder} holds {human_size(size)}; a project version may hold up to {human_size(max_project_size)} "
                "(`library.max_project_size`). Leave data sets out, or ask the admins for a larger limit. "
                "Nothing was published."
            )
        used = self.used_by(owner)
        if used + size > max_user_size:
            raise LibraryRefused(
                f"{owner} keeps {human_size(used)} in the library; this version ({human_size(size)}) would pass the "
                f"limit of {human_size(max_user_size)} per person (`library.max_user_size`). Nothing was published."
            )
        paths = [path.as_posix() for path, _, _ in files]
        main = main_file(paths, metadata.main)
        now = utc_now()
        with self._session() as session:
            project = session.scalar(select(Project).where(Project.owner == owner, Project.slug == slug))
            if project is None:
                project = Project(owner=owner, slug=slug, created=now)
                session.add(project)
            project.title = metadata.title.strip()[:200]
            project.description = metadata.description.strip()
            project.tags = " ".join(normalized_tags(metadata.tags))
            project.licence = metadata.licence.strip()[:64]
            project.visibility = metadata.visibility
            project.course = metadata.course
            project.updated = now
            session.flush()
            latest = session.scalar(select(func.max(Version.number)).where(Version.project_id == project.id)) or 0
            number = latest + 1
            before = file_digests(self.version_dir(owner, slug, latest)) if latest else {}
            target = self.version_dir(owner, slug, number)
            written = self._write_version(files, target)
            try:
                changes = changes_between(before, file_digests(target))
                version = Version(
                    project_id=project.id,
                    number=number,
                    created=now,
                    size=size,
                    files=len(files),
                    main=main,
                    note=metadata.note.strip(),
                    changes=json.dumps(changes),
                )
                session.add(version)
                session.flush()
            except BaseException:
                shutil.rmtree(written, ignore_errors=True)  # our own copy of this version only, never a workspace
                raise
            return self._project_info(project, number), self._version_info(version)

    def _write_version(self, files: list[tuple[PurePosixPath, Path, int]], target: Path) -> Path:
        """Copy the files into a new folder beside `target`, make it read-only, then rename it into place."""
        if target.exists():
            raise LibraryRefused(f"{target} exists already: the library's folders and its database disagree")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        for relative, source, _ in files:
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with source.open("rb") as reader, destination.open("xb") as writer:
                shutil.copyfileobj(reader, writer)
            destination.chmod(0o444)
        for directory in sorted((p for p in staging.rglob("*") if p.is_dir()), reverse=True):
            directory.chmod(0o555)
        staging.chmod(0o555)
        staging.rename(target)
        return target

    # Reading ----------------------------------------------------------------------------------------

    @staticmethod
    def _project_info(project: Project, latest: int) -> ProjectInfo:
        return ProjectInfo(
            owner=project.owner,
            slug=project.slug,
            title=project.title,
            description=project.description,
            tags=tuple(project.tags.split()),
            licence=project.licence,
            visibility=project.visibility,
            course=project.course,
            updated=project.updated,
            latest=latest,
        )

    @staticmethod
    def _version_info(version: Version) -> VersionInfo:
        return VersionInfo(
            number=version.number,
            created=version.created,
            size=version.size,
            files=version.files,
            main=version.main,
            note=version.note,
            changes=json.loads(version.changes or "{}"),
        )

    def project(self, owner: str, slug: str, viewer: str | None) -> ProjectInfo | None:
        """The project if `viewer` (None: anonymous) may see it: public and unlisted to all, private to its owner."""
        with self._session() as session:
            project = session.scalar(select(Project).where(Project.owner == owner, Project.slug == slug))
            if project is None or (project.visibility == PRIVATE and viewer != project.owner):
                return None
            latest = session.scalar(select(func.max(Version.number)).where(Version.project_id == project.id))
            return self._project_info(project, latest or 0) if latest else None

    def versions(self, owner: str, slug: str) -> list[VersionInfo]:
        with self._session() as session:
            rows = session.scalars(
                select(Version)
                .join(Project, Project.id == Version.project_id)
                .where(Project.owner == owner, Project.slug == slug)
                .order_by(Version.number.desc())
            )
            return [self._version_info(row) for row in rows]

    def gallery(
        self,
        *,
        viewer: str | None = None,
        query: str = "",
        tag: str = "",
        owner: str = "",
        course: str = "",
        limit: int = 200,
    ) -> list[ProjectInfo]:
        """Public projects (and, on their own profile page, a person's own), newest first, matching the search."""
        latest = (
            select(Version.project_id, func.max(Version.number).label("latest")).group_by(Version.project_id).subquery()
        )
        statement = select(Project, latest.c.latest).join(latest, latest.c.project_id == Project.id)
        if owner and viewer == owner:
            statement = statement.where(Project.owner == owner)
        else:
            statement = statement.where(Project.visibility == PUBLIC)
            if owner:
                statement = statement.where(Project.owner == owner)
        if course:
            statement = statement.where(Project.course == course)
        if tag:
            statement = statement.where((" " + Project.tags + " ").contains(f" {tag.lower()} ", autoescape=True))
        for word in query.lower().split()[:8]:
            statement = statement.where(
                or_(
                    func.lower(Project.title).contains(word, autoescape=True),
                    func.lower(Project.description).contains(word, autoescape=True),
                    Project.tags.contains(word, autoescape=True),
                    Project.owner.contains(word, autoescape=True),
                )
            )
        statement = statement.order_by(Project.updated.desc()).limit(limit)
        with self._session() as session:
            return [self._project_info(project, number) for project, number in session.execute(statement)]


__all__ = [
    "PRIVATE",
    "PUBLIC",
    "UNLISTED",
    "LibraryRefused",
    "LibraryStore",
    "Metadata",
    "ProjectInfo",
    "PublishedFile",
    "VersionInfo",
]
