"""`campushub users remove NAME`: a person leaves, their name stays theirs, their files are archived.

Whatever method a person signed in with, removal:
1. reserves the name at once (a tombstone), so nobody can sign in or sign up with it meanwhile;
2. stops their server and deletes the hub's user (through the running hub, which ends their sessions);
3. ends every process of their system account;
4. archives their home and what they left in /tmp, /var/tmp and /dev/shm, and checks the archive;
5. only then deletes those files and the system account;
6. forgets what sign-in recorded of them: course roles from LMS launches and SAML sessions.
The name stays reserved until `campushub users release NAME`, so a later holder of the name gets a
new account and nothing of the old one.
"""

from __future__ import annotations

import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from campushub.archive import SHARED_TEMPORARY, Archive, ArchiveError, owned_files, write_archive
from campushub.compute.accounts_guard import made_by_campushub
from campushub.config.schema import CampusConfig
from campushub.courses.hubapi import HubAPI, HubAPIError
from campushub.errors import UserError
from campushub.hub.layout import Layout, database_url
from campushub.hub.records import forget_hub_user, hub_user_exists
from campushub.identity.accounts import PENDING, AccountStore
from campushub.services.access import hub_api_url, service_token
from campushub.services.builtin import CLI_SERVICE

STOP_WAIT = 60.0


@dataclass(frozen=True)
class Removal:
    name: str
    archive: Archive | None
    system_account: str | None
    note: str


def hub_api_for_cli(config: CampusConfig, layout: Layout) -> HubAPI | None:
    """An API client with a short-lived token of the CLI's own service, or None when CampusHub is not running."""
    url = hub_api_url(config)
    try:
        HubAPI(url, "").request("GET", "/")
    except HubAPIError:
        return None
    token = service_token(database_url(config, layout), CLI_SERVICE, "campushub users remove")
    if token is None:
        raise UserError("the running CampusHub predates this version: restart it (`campushub up`), then retry.")
    return HubAPI(url, token).wait_until_known()


def stop_and_delete_hub_user(api: HubAPI, name: str) -> None:
    """Through the hub: JupyterHub's user deletion stops a running server first and ends every session.

    While a stop is still under way it answers 400 ("in the process of stopping"): ask again until it is done.
    """
    deadline = time.monotonic() + STOP_WAIT
    while True:
        status, body = api.request("DELETE", f"/users/{quote(name)}")
        if status in (204, 404):
            return
        if status != 400 or time.monotonic() > deadline:
            raise UserError(f"the hub did not delete {name!r} (HTTP {status}: {body}); nothing was deleted. Retry.")
        time.sleep(0.5)


def campushub_account(config: CampusConfig, name: str) -> pwd.struct_passwd | None:
    """The system account CampusHub made for `name`; an account it did not make is never touched."""
    try:
        entry = pwd.getpwnam(config.compute.local.user_prefix + name)
    except KeyError:
        return None
    return entry if made_by_campushub(entry) else None


def end_processes(account: str) -> None:
    subprocess.run(["pkill", "-KILL", "-u", account], check=False, capture_output=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if subprocess.run(["pgrep", "-u", account], capture_output=True).returncode != 0:
            return
        time.sleep(0.1)


def delete_files(home: Path | None, elsewhere: list[Path]) -> None:
    """Called only once their archive read back."""
    for path in [*elsewhere, *([home] if home is not None else [])]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def remove_user(config: CampusConfig, layout: Layout, store: AccountStore, name: str) -> Removal:
    """Remove `name` whatever method they signed in with; see the module's docstring for the steps."""
    db_url = database_url(config, layout)
    account = store.get(name)
    system = campushub_account(config, name) if layout.running_as_root else None
    personal_home = layout.users_dir / name if not layout.running_as_root else None
    leftovers = system is not None or (personal_home is not None and personal_home.exists())
    in_hub = hub_user_exists(db_url, name)
    if store.removed(name) and not (in_hub or leftovers):
        raise UserError(f"{name!r} is already removed (its name is reserved; `campushub users release {name}`).")
    if not (store.owner(name) or account or in_hub):
        raise UserError(f"no user {name!r}; `campushub users list --all` shows every name CampusHub knows.")
    if account is not None and account.status == PENDING and store.owner(name) is None and not in_hub:
        store.remove(name)  # a request that never became an account: no files, no name to reserve
        return Removal(name, None, None, "sign-up request removed")
    api = hub_api_for_cli(config, layout)
    store.retire(name)  # from here on, no sign-in or sign-up can take the name (a second run picks up here)
    if api is not None:
        stop_and_delete_hub_user(api, name)
    else:
        forget_hub_user(db_url, name)
    if system is not None:
        home: Path | None = Path(system.pw_dir)
        base = Path(config.compute.local.home_base).resolve()
        if not home.resolve().is_relative_to(base) or home.resolve() == base:
            raise UserError(
                f"{system.pw_name}'s home {home} is not under compute.local.home_base ({base}); CampusHub "
                "deletes no directory it did not make. Archive and remove it by hand, then `userdel` the account."
            )
        end_processes(system.pw_name)
        elsewhere = owned_files(SHARED_TEMPORARY, system.pw_uid)
    else:
        home = personal_home
        elsewhere = []
    about = {
        "system_account": system.pw_name if system else None,
        "uid": system.pw_uid if system else None,
        "home": str(home) if home else None,
    }
    archive = None
    if (home is not None and home.exists()) or elsewhere:
        try:
            archive = write_archive(layout.archive_dir, name, home, elsewhere, about)
        except ArchiveError as exc:
            raise UserError(
                f"{exc}. Nothing of {name}'s was deleted: make room or fix {layout.archive_dir}, then run the "
                "same command again."
            ) from None
        delete_files(home, elsewhere)
        store.retire(name, str(archive.path))
    if system is not None:
        result = subprocess.run(["userdel", system.pw_name], capture_output=True, text=True)
        if result.returncode != 0:
            raise UserError(
                f"{name}'s files are archived in {archive.path if archive else '(none)'}, but `userdel "
                f"{system.pw_name}` failed: {result.stderr.strip()}. Remove the account by hand."
            )
    forget_sign_in_records(db_url, name)
    return Removal(name, archive, system.pw_name if system else None, "removed")


def forget_sign_in_records(db_url: str, name: str) -> None:
    """Course roles the LMS gave `name` and their SAML sessions: a later holder of the name must not inherit
    an instructor's role in someone else's course."""
    from campushub.identity.lti_store import LtiStore
    from campushub.identity.saml_store import SamlStore

    for store_class in (LtiStore, SamlStore):
        store = store_class(db_url)
        try:
            store.forget(name)
        finally:
            store.dispose()


def release_name(store: AccountStore, db_url: str, name: str) -> str:
    """Free a removed user's name, or a stale claim nobody signs in with; refuse while a person holds it, or
    while the library holds projects published under it (the next holder of the name would own them)."""
    published = library_projects_of(db_url, name)
    if published:
        shown = ", ".join(f"{name}/{slug}" for slug in published[:5]) + (" ..." if len(published) > 5 else "")
        raise UserError(
            f"{name!r} published {len(published)} project(s) in the library ({shown}). Released, the name would "
            f"hand them, private ones included, to the next person called {name}, so it stays reserved."
        )
    if store.release(name):
        return "released: the next person to use this name gets a new, empty account"
    if hub_user_exists(db_url, name) or store.get(name) is not None:
        raise UserError(
            f"{name!r} belongs to a user who still exists; `campushub users remove {name}` removes them first."
        )
    if store.forget_claim(name):
        return "released: the stale claim is gone; the next method to sign someone in with it owns the name"
    raise UserError(f"{name!r} is not reserved; `campushub users list --all` shows every name.")


def library_projects_of(db_url: str, name: str) -> list[str]:
    from campushub.library.store import LibraryStore

    library = LibraryStore(db_url, Path())  # only the database is read
    try:
        return library.slugs_of(name)
    finally:
        library.dispose()
