"""The manifest of a backup, and the check of a backup directory against it.

`manifest.json` lists every file of the backup with its size and SHA-256, and says what the backup
holds: which database, whose homes. `campushub restore` trusts nothing in a backup until
`verify_backup` has found every listed file whole and nothing unlisted beside them, so that a backup
cut short (a copy that stopped half-way), altered (one byte changed) or with files added is refused
before anything on the machine is touched. The manifest is written last: a backup that was
interrupted has none, and is refused as incomplete.

Nothing here writes or changes a file.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from campushub.backup.files import sha256_of
from campushub.identity.usernames import InvalidUsername, normalize_username

MANIFEST = "manifest.json"
FORMAT = "campushub-backup"
FORMAT_VERSION = 1
CAMPUS_YAML = "campus.yaml"
SECRETS_DIR = "secrets"
CONFIG_D_DIR = "jupyterhub_config.d"
HOMES_DIR = "homes"
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
# Where each kind of hub database sits in a backup: the SQLite file itself, or pg_dump's custom format.
DATABASE_FILES = {SQLITE: "database/campushub.sqlite", POSTGRESQL: "database/campushub.pgdump"}
MODES = ("root", "personal")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """The backup does not match its manifest: `file` is the one at fault, `problem` (a predicate) says how."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file} {problem}")
        self.file = file
        self.problem = problem


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the backup directory, with `/`
    size: int
    sha256: str


@dataclass(frozen=True)
class HomeEntry:
    """One user's home, packed into `file`: whose it is, so that it goes back to the same campus user."""

    user: str
    file: str
    files: int
    bytes: int
    left_out: tuple[str, ...] = ()  # what the home held that was not packed (sockets, pipes, links out of it)


@dataclass(frozen=True)
class Manifest:
    campushub_version: str
    created: str  # UTC, ISO 8601
    database: str  # SQLITE or POSTGRESQL
    mode: str  # root (system accounts' homes) or personal (data_dir/users)
    homes_included: bool
    files: tuple[FileEntry, ...]
    homes: tuple[HomeEntry, ...] = field(default=())

    @property
    def database_file(self) -> str:
        return DATABASE_FILES[self.database]

    @property
    def secrets(self) -> list[str]:
        return [entry.path for entry in self.files if entry.path.startswith(SECRETS_DIR + "/")]

    @property
    def config_d(self) -> list[str]:
        return [entry.path for entry in self.files if entry.path.startswith(CONFIG_D_DIR + "/")]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)

    def to_json(self) -> bytes:
        document = {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}
        return json.dumps(document, indent=2).encode() + b"\n"


def home_file(user: str) -> str:
    return f"{HOMES_DIR}/{user}.tar.gz"


def describe(root: Path, relative: str) -> FileEntry:
    """The manifest's line for a file just written into the backup at `root`."""
    path = root / relative
    return FileEntry(relative, path.stat().st_size, sha256_of(path))


def path_problem(relative: object) -> str | None:
    """Why `relative` cannot name a file of a backup (a path that could lead outside it), or None."""
    if not isinstance(relative, str) or not relative:
        return "a file's path is missing"
    if "\\" in relative or "\x00" in relative:
        return "the path has a backslash or a NUL character"
    parts = PurePosixPath(relative).parts
    if relative.startswith("/") or any(part in ("..", ".") for part in parts) or str(PurePosixPath(*parts)) != relative:
        return "the path is not a plain relative path inside the backup"
    return None


def _place_problem(relative: str, database: str, home_files: set[str]) -> str | None:
    """Why a listed file has no place in a backup of this kind: restore would not know what to do with it."""
    parts = relative.split("/")
    if relative in (CAMPUS_YAML, DATABASE_FILES[database]) or relative in home_files:
        return None
    if len(parts) == 2 and parts[0] == SECRETS_DIR:
        return None
    if len(parts) == 2 and parts[0] == CONFIG_D_DIR and parts[1].endswith(".py"):
        return None
    return "is not a file a CampusHub backup holds (restore would not know where it goes)"


def parse_manifest(data: bytes) -> Manifest:
    """The manifest, checked for form: every field of the right type, every path a plain one with a place."""

    def fail(problem: str) -> ManifestError:
        return ManifestError(MANIFEST, problem)

    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise fail("is not valid JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise fail(f"is not the manifest of a CampusHub backup (no `format: {FORMAT}`)")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise fail(f"has format version {version!r}; this CampusHub reads version {FORMAT_VERSION} (update it)")
    database = document.get("database")
    if database not in DATABASE_FILES:
        raise fail(f"names an unknown database kind {database!r}")
    if document.get("mode") not in MODES:
        raise fail(f"names an unknown mode {document.get('mode')!r}")
    for key in ("campushub_version", "created"):
        if not isinstance(document.get(key), str):
            raise fail(f"has no `{key}`")
    if not isinstance(document.get("homes_included"), bool):
        raise fail("does not say whether homes are included")
    files = _file_entries(document.get("files"), fail)
    homes = _home_entries(document.get("homes"), fail)
    if homes and not document["homes_included"]:
        raise fail("lists homes but says homes are not included")
    home_files = {home.file for home in homes}
    listed = {entry.path for entry in files}
    for entry in files:
        problem = _place_problem(entry.path, database, home_files)
        if problem:
            raise ManifestError(entry.path, problem)
    for required in (CAMPUS_YAML, DATABASE_FILES[database], *sorted(home_files)):
        if required not in listed:
            raise fail(f"does not list {required}, which a backup of this kind must hold")
    return Manifest(
        campushub_version=document["campushub_version"],
        created=document["created"],
        database=database,
        mode=document["mode"],
        homes_included=document["homes_included"],
        files=files,
        homes=homes,
    )


def _file_entries(raw: object, fail) -> tuple[FileEntry, ...]:
    if not isinstance(raw, list):
        raise fail("has no list of files")
    entries: list[FileEntry] = []
    for item in raw:
        if not isinstance(item, dict):
            raise fail("has a file entry that is not an object")
        path, size, digest = item.get("path"), item.get("size"), item.get("sha256")
        problem = path_problem(path)
        if problem:
            raise fail(f"has a bad file path {path!r} ({problem})")
        if path == MANIFEST:
            raise fail("lists itself")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise fail(f"has no valid size for {path}")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise fail(f"has no valid SHA-256 for {path}")
        entries.append(FileEntry(path, size, digest))
    if len({entry.path for entry in entries}) != len(entries):
        raise fail("lists a file twice")
    return tuple(entries)


def _home_entries(raw: object, fail) -> tuple[HomeEntry, ...]:
    if not isinstance(raw, list):
        raise fail("has no list of homes")
    homes: list[HomeEntry] = []
    for item in raw:
        if not isinstance(item, dict):
            raise fail("has a home entry that is not an object")
        user = item.get("user")
        try:
            valid = isinstance(user, str) and normalize_username(user) == user
        except InvalidUsername:
            valid = False
        if not valid:
            raise fail(f"has a home of {user!r}, which is not a CampusHub username")
        if item.get("file") != home_file(user):
            raise fail(f"puts {user}'s home in {item.get('file')!r}, not {home_file(user)}")
        numbers = [item.get("files"), item.get("bytes")]
        if not all(isinstance(number, int) and not isinstance(number, bool) for number in numbers):
            raise fail(f"has no file count or size for {user}'s home")
        left_out = item.get("left_out", [])
        if not isinstance(left_out, list) or not all(isinstance(path, str) for path in left_out):
            raise fail(f"has a malformed `left_out` for {user}'s home")
        homes.append(HomeEntry(user, home_file(user), item["files"], item["bytes"], tuple(left_out)))
    if len({home.user for home in homes}) != len(homes):
        raise fail("lists a user's home twice")
    return tuple(homes)


def present_files(root: Path) -> set[str]:
    """Every file under `root` (manifest included), as relative paths; anything that is not a plain file or a
    directory (a symbolic link, a pipe) is refused, since no backup holds one."""
    found: set[str] = set()
    for directory, subdirs, files in os.walk(root):
        for name in [*subdirs, *files]:
            path = Path(directory, name)
            relative = path.relative_to(root).as_posix()
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise ManifestError(relative, "is not a plain file (a link or a special file); no backup holds one")
            found.add(relative)
    return found


def verify_backup(root: Path) -> Manifest:
    """The manifest of the backup at `root`, once every listed file is there, whole, with nothing else beside.

    Raises ManifestError naming the first file at fault. Reads every file once (its SHA-256).
    """
    manifest_path = root / MANIFEST
    if not manifest_path.is_file() or manifest_path.is_symlink():
        raise ManifestError(MANIFEST, "is missing, so the backup is incomplete (the manifest is written last)")
    manifest = parse_manifest(manifest_path.read_bytes())
    present = present_files(root) - {MANIFEST}
    listed = {entry.path for entry in manifest.files}
    extras = sorted(present - listed)
    if extras:
        raise ManifestError(extras[0], "is in the backup but not in its manifest (added after the backup was made)")
    for entry in manifest.files:
        if entry.path not in present:
            raise ManifestError(entry.path, "is listed in the manifest but missing from the backup")
        size = (root / entry.path).stat().st_size
        if size != entry.size:
            raise ManifestError(entry.path, f"has {size} bytes, but the manifest says {entry.size}")
        if sha256_of(root / entry.path) != entry.sha256:
            raise ManifestError(entry.path, "does not have the SHA-256 the manifest gives (its content was changed)")
    return manifest
