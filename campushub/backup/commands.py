"""`campushub backup DEST` and `campushub restore SRC`, put together from the modules beside this one.

Backup writes into a new (or empty) private directory and writes the manifest last, so a backup that
stopped half-way is recognisable; if it fails, what it wrote is removed again. Restore first checks
everything it can without changing anything (the backup against its manifest, every home's archive,
the target database, the homes it would fill) and only then writes. It never deletes or overwrites a
user's files: a home that exists and is not empty is left alone.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from campushub import __version__
from campushub.backup.database import (
    backup_sqlite,
    campus_names,
    database_kind,
    dump_postgres,
    forget_running_servers,
    inspect_target,
    masked,
    restore_postgres,
    restore_sqlite,
    set_aside,
    sqlite_path,
)
from campushub.backup.files import copy_private, make_private_dir, write_private
from campushub.backup.homes import UnsafeArchive, extract_home, is_empty_dir, pack_home, scan_archive
from campushub.backup.manifest import (
    CAMPUS_YAML,
    CONFIG_D_DIR,
    DATABASE_FILES,
    HOMES_DIR,
    MANIFEST,
    POSTGRESQL,
    SECRETS_DIR,
    SQLITE,
    HomeEntry,
    Manifest,
    ManifestError,
    describe,
    home_file,
    parse_manifest,
    present_files,
    verify_backup,
)
from campushub.compute.accounts_guard import UnusableAccount, check_account, made_by_campushub
from campushub.compute.system_users import SystemUserError, ensure_system_user
from campushub.config.loader import LoadedConfig, absolutize, load_config, parse_config
from campushub.config.schema import CampusConfig
from campushub.errors import UserError
from campushub.hub.config_d import config_files
from campushub.hub.layout import Layout, database_url, layout_for
from campushub.setup import prepare_data_dir

# Secrets a backup leaves out: the effective configuration is written again at every `campushub up`.
REGENERATED_SECRETS = ("effective-config.json", "courses-service-token")
KIND_NAMES = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}


@dataclass
class BackupResult:
    dest: Path
    manifest: Manifest
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        manifest = self.manifest
        parts = [
            f"the hub database ({KIND_NAMES[manifest.database]})",
            CAMPUS_YAML,
            f"{len(manifest.secrets)} secret file(s)",
            f"{len(manifest.config_d)} jupyterhub_config.d file(s)",
        ]
        if manifest.homes_included:
            parts.append(f"the homes of {len(manifest.homes)} user(s)")
        return [
            f"Backed up {', '.join(parts)} into {self.dest} ({human_size(manifest.total_bytes)}).",
            *self.notes,
            f"It holds secrets: keep it private. `campushub restore {self.dest}` puts it back.",
        ]


@dataclass
class RestoreResult:
    src: Path
    manifest: Manifest
    database: str
    homes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        manifest = self.manifest
        homes = f", and the homes of {len(self.homes)} user(s)" if manifest.homes_included else ""
        return [
            f"Restored the backup of {manifest.created} (CampusHub {manifest.campushub_version}) from {self.src}: "
            f"the hub database into {self.database}, {len(manifest.secrets)} secret file(s), "
            f"{len(manifest.config_d)} jupyterhub_config.d file(s){homes}.",
            *self.notes,
            "Start CampusHub with `campushub up`.",
        ]


def human_size(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} bytes"


# Backup


def backup(config_path: Path, dest: Path, with_homes: bool) -> BackupResult:
    """Write a backup of the campus of `config_path` into `dest`; the hub may keep running meanwhile."""
    loaded = load_config(config_path)
    layout = layout_for(loaded.config)
    db_url = database_url(loaded.config, layout)
    kind = database_kind(db_url)
    created = _prepare_dest(dest)
    try:
        return _write_backup(loaded, layout, db_url, kind, dest, with_homes)
    except OSError as exc:
        _discard(dest, created)
        raise UserError(
            f"the backup into {dest} failed ({exc}); what it had written is removed. Fix that (room on the disk, "
            "permissions), then run the command again."
        ) from None
    except BaseException:
        _discard(dest, created)
        raise


def _prepare_dest(dest: Path) -> bool:
    """Make `dest` (0700), or take it if it is an empty directory; True if it was made here."""
    parent = dest.absolute().parent
    if not parent.is_dir():
        raise UserError(
            f"{parent}, where the backup {dest.name} would go, does not exist: create it (`mkdir -p {parent}`) or "
            "choose another place."
        )
    if dest.exists() or dest.is_symlink():
        if not dest.is_dir() or dest.is_symlink():
            raise UserError(f"{dest} exists and is not a directory: give a new directory for the backup.")
        if any(dest.iterdir()):
            raise UserError(
                f"{dest} exists and is not empty; a backup never overwrites anything: give a new directory."
            )
        os.chmod(dest, 0o700)
        return False
    try:
        dest.mkdir(mode=0o700)
    except OSError as exc:
        raise UserError(f"{dest} cannot be created ({exc.strerror}): choose another place.") from None
    return True


def _discard(dest: Path, created: bool) -> None:
    """A failed backup leaves nothing behind that could pass for one."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for entry in dest.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _write_backup(
    loaded: LoadedConfig, layout: Layout, db_url: str, kind: str, dest: Path, with_homes: bool
) -> BackupResult:
    config = loaded.config
    notes: list[str] = []
    copy_private(loaded.path, dest / CAMPUS_YAML)
    _copy_files(_secret_files(layout), dest / SECRETS_DIR)
    _copy_files(config_files(layout.config_d), dest / CONFIG_D_DIR)
    make_private_dir(dest / "database")
    database_file = dest / DATABASE_FILES[kind]
    if kind == SQLITE:
        backup_sqlite(sqlite_path(db_url), database_file)
    else:
        dump_postgres(db_url, database_file)
    homes: list[HomeEntry] = []
    if with_homes:
        make_private_dir(dest / HOMES_DIR)
        for name in campus_names(db_url):
            home = _home_to_back_up(config, layout, name, notes)
            if home is None:
                continue
            packed = pack_home(home, dest / home_file(name))
            homes.append(HomeEntry(name, home_file(name), packed.files, packed.bytes, tuple(packed.left_out)))
            notes += [f"  {name}'s home: left out {item}" for item in packed.left_out]
    files = tuple(describe(dest, relative) for relative in sorted(present_files(dest)))
    manifest = Manifest(
        campushub_version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        database=kind,
        mode="root" if layout.running_as_root else "personal",
        homes_included=with_homes,
        files=files,
        homes=tuple(homes),
    )
    document = manifest.to_json()
    parse_manifest(document)  # what restore will read must be what was meant
    write_private(dest / MANIFEST, document)
    return BackupResult(dest, manifest, notes)


def _secret_files(layout: Layout) -> list[Path]:
    if not layout.secrets_dir.is_dir():
        return []
    return sorted(
        path
        for path in layout.secrets_dir.iterdir()
        if path.is_file() and not path.is_symlink() and path.name not in REGENERATED_SECRETS
    )


def _copy_files(sources: list[Path], directory: Path) -> None:
    if not sources:
        return
    make_private_dir(directory)
    for source in sources:
        copy_private(source, directory / source.name)


def _home_to_back_up(config: CampusConfig, layout: Layout, name: str, notes: list[str]) -> Path | None:
    """Where `name`'s files are: their system account's home (root mode) or data_dir/users/<name>."""
    if not layout.running_as_root:
        home = layout.users_dir / name
        return home if home.is_dir() and not home.is_symlink() else None
    local = config.compute.local
    try:
        entry = pwd.getpwnam(local.user_prefix + name)
    except KeyError:
        return None  # never started a server: no account, no files
    if not made_by_campushub(entry) and entry.pw_name not in local.adopt_accounts:
        notes.append(f"  {name}: the system account {entry.pw_name} is not CampusHub's; its home was not backed up")
        return None
    home = Path(entry.pw_dir)
    return home if home.is_dir() and not home.is_symlink() else None


# Restore


@dataclass(frozen=True)
class _HomePlan:
    entry: HomeEntry
    home: Path
    account: str | None  # root mode: the system account to make or use


def restore(config_path: Path, src: Path, force: bool) -> RestoreResult:
    """Put the backup at `src` back onto this machine, for the campus of `config_path`; see the module's docstring."""
    manifest = _verified(src)
    config, write_yaml = _target_config(config_path, src)
    layout = layout_for(config)
    db_url = database_url(config, layout)
    kind = database_kind(db_url)
    if kind != manifest.database:
        raise UserError(
            f"the backup holds a {KIND_NAMES[manifest.database]} hub database, but {config_path} keeps it in "
            f"{KIND_NAMES[kind]} (database.url). Restore with a campus.yaml of the same kind; nothing was changed."
        )
    _refuse_if_running(layout)
    set_aside_sqlite = _check_target_database(db_url, kind, force, config_path)
    plans, occupied = _plan_homes(config, layout, manifest)
    if occupied and not force:
        raise UserError(
            f"these homes exist and are not empty: {', '.join(occupied)}. Restore never overwrites a user's files, "
            "and nothing was changed. Move them away and run the command again, or add --force to restore "
            "everything else and leave these homes as they are."
        )
    notes = [f"  left as it was, not overwritten: {home}" for home in occupied]
    if manifest.campushub_version != __version__:
        notes.append(
            f"  the backup was made by CampusHub {manifest.campushub_version}; this is {__version__}: run "
            "`campushub upgrade` before `campushub up` if the database's tables are older than this CampusHub's."
        )

    try:
        return _put_back(src, manifest, config_path, config, write_yaml, set_aside_sqlite, plans, notes)
    except OSError as exc:
        raise UserError(
            f"the restore stopped: {exc}. Fix that (room on the disk, permissions), then run `campushub restore "
            "--force` again (it leaves users' homes as they are; empty a PostgreSQL database this run filled first)."
        ) from None


def _put_back(
    src: Path,
    manifest: Manifest,
    config_path: Path,
    config: CampusConfig,
    write_yaml: bool,
    set_aside_sqlite: bool,
    plans: list[_HomePlan],
    notes: list[str],
) -> RestoreResult:
    """The writing half of `restore`, once every check has passed."""
    layout = layout_for(config)
    db_url = database_url(config, layout)
    if write_yaml:
        write_private(config_path, (src / CAMPUS_YAML).read_bytes())
        notes.insert(0, f"  wrote {config_path} from the backup")
    elif config_path.read_bytes() != (src / CAMPUS_YAML).read_bytes():
        notes.insert(0, f"  kept {config_path}, which differs from the backup's ({src / CAMPUS_YAML}): compare them")
    prepare_data_dir(layout)
    for relative in manifest.secrets:
        _replace_private(src / relative, layout.secrets_dir / Path(relative).name)
    notes += _restore_config_d(src, manifest, layout)
    if manifest.database == SQLITE:
        target = sqlite_path(db_url)
        if set_aside_sqlite:
            notes.append(f"  the hub database that was here is kept as {set_aside(target)}")
        restore_sqlite(src / manifest.database_file, target)
        where = str(target)
    else:
        restore_postgres(db_url, src / manifest.database_file)
        where = masked(db_url)
    forget_running_servers(db_url)
    for plan in plans:
        _restore_home(src, plan, config)
    return RestoreResult(src, manifest, where, [plan.entry.user for plan in plans], notes)


def _verified(src: Path) -> Manifest:
    if not src.is_dir():
        raise UserError(f"{src} is not a directory: give the directory `campushub backup` wrote.")
    try:
        manifest = verify_backup(src)
        for home in manifest.homes:
            try:
                scan_archive(src / home.file)
            except UnsafeArchive as exc:
                raise ManifestError(home.file, f"(the home of {home.user}) holds {exc.member}: {exc.reason}") from None
    except ManifestError as exc:
        raise UserError(
            f"{src} is not a whole, unaltered CampusHub backup: {exc}. Nothing was restored and nothing on this "
            "machine was changed. Restore from an intact copy of the backup, or make a new one with "
            "`campushub backup`."
        ) from None
    except OSError as exc:
        raise UserError(f"{src} cannot be read ({exc}); nothing was changed.") from None
    return manifest


def _target_config(config_path: Path, src: Path) -> tuple[CampusConfig, bool]:
    """The campus to restore into: `config_path` if it exists (kept as it is), else the backup's campus.yaml,
    read as if it were already at `config_path` (its relative paths are relative to that file)."""
    if config_path.exists():
        return load_config(config_path).config, False
    directory = config_path.absolute().parent
    if not directory.is_dir():
        raise UserError(f"{directory} does not exist: create it, or give another -c path for campus.yaml.")
    text = (src / CAMPUS_YAML).read_text(encoding="utf-8")
    return absolutize(parse_config(text, str(config_path)), directory.resolve()), True


def _refuse_if_running(layout: Layout) -> None:
    pid_file = layout.run_dir / "hub.pid"
    try:
        pid = int(pid_file.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"campushub" in command or b"jupyterhub" in command:
        raise UserError(f"CampusHub is running on {layout.data_dir} (pid {pid}): stop it, then run restore again.")


def _check_target_database(db_url: str, kind: str, force: bool, config_path: Path) -> bool:
    """Refuse a database in use; True when an SQLite file is there to be set aside (never deleted)."""
    target = inspect_target(db_url)
    if kind == POSTGRESQL:
        if target.exists:
            raise UserError(
                f"the database {masked(db_url)} of {config_path} is not empty (it has tables"
                f"{f' and {target.people} user record(s)' if target.people else ''}); restore loads a backup into "
                "an empty database only, whatever the options. Create an empty database owned by the user of "
                "database.url and point database.url at it (or drop this one and create it again, empty), then "
                "run the command again. Nothing was changed."
            )
        return False
    if target.people and not force:
        raise UserError(
            f"{sqlite_path(db_url)} already holds a hub database with {target.people} user record(s); restoring "
            "would replace it, so nothing was changed. To replace this machine's campus by the backup, run the "
            "command again with --force: the database is then moved aside (not deleted), and users' homes are "
            "never deleted or overwritten."
        )
    return target.exists


def _plan_homes(config: CampusConfig, layout: Layout, manifest: Manifest) -> tuple[list[_HomePlan], list[str]]:
    """Where each home goes, and the homes that exist and are not empty (never overwritten)."""
    plans: list[_HomePlan] = []
    occupied: list[str] = []
    local = config.compute.local
    for entry in manifest.homes:
        account = None
        if layout.running_as_root:
            account = local.user_prefix + entry.user
            home = Path(local.home_base) / account
            try:
                home = Path(check_account(pwd.getpwnam(account), local.adopt_accounts).pw_dir)
            except KeyError:
                pass  # made by restore
            except UnusableAccount as exc:
                raise UserError(
                    f"{entry.user}'s home cannot be restored: {exc}. Nothing was changed; see "
                    "compute.local.adopt_accounts, or remove that account."
                ) from None
        else:
            home = layout.users_dir / entry.user
        if home.is_symlink() or (home.exists() and not is_empty_dir(home)):
            occupied.append(f"{home} ({entry.user})")
            continue
        plans.append(_HomePlan(entry, home, account))
    return plans, occupied


def _replace_private(source: Path, target: Path) -> None:
    """Write `target` (0600) with the bytes of `source`, in one step: readers see the old or the new file."""
    temporary = target.with_name(f".{target.name}.restoring")
    temporary.unlink(missing_ok=True)
    copy_private(source, temporary)
    os.replace(temporary, target)


def _restore_config_d(src: Path, manifest: Manifest, layout: Layout) -> list[str]:
    """The admin's own hub settings; a file of the same name that differs here is kept, and said so."""
    notes = []
    for relative in manifest.config_d:
        target = layout.config_d / Path(relative).name
        if target.exists():
            if target.read_bytes() != (src / relative).read_bytes():
                notes.append(f"  kept {target}, which differs from the backup's ({src / relative})")
            continue
        make_private_dir(layout.config_d)
        copy_private(src / relative, target)
    return notes


def _restore_home(src: Path, plan: _HomePlan, config: CampusConfig) -> None:
    """Make the account (root mode), then extract the home and give it to the account."""
    archive = src / plan.entry.file
    owner = None
    home = plan.home
    try:
        if plan.account is not None:
            local = config.compute.local
            Path(local.home_base).mkdir(mode=0o755, parents=True, exist_ok=True)
            entry = ensure_system_user(plan.account, Path(local.home_base) / plan.account, local.adopt_accounts)
            home = Path(entry.pw_dir)
            home.mkdir(mode=0o700, exist_ok=True)
            owner = (entry.pw_uid, entry.pw_gid)
        else:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        extract_home(archive, home, owner)
    except (OSError, SystemUserError, UnusableAccount, UnsafeArchive) as exc:
        raise UserError(
            f"restoring {plan.entry.user}'s home into {home} failed ({exc}). The database and the homes before it "
            f"are restored, and {home} may be restored in part: fix the cause, move {home} away, then run "
            "`campushub restore --force` again (it leaves the homes restored so far as they are)."
        ) from None
