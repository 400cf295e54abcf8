"""`campushub init`: a commented campus.yaml, the data directory, the first admin account.

There is deliberately no "first person to sign up becomes admin": the first
admin is made here, by whoever has a shell on the machine.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from campushub.config.loader import load_config
from campushub.config.schema import CampusConfig
from campushub.errors import UserError
from campushub.hub.layout import Layout, database_url, layout_for
from campushub.identity.accounts import AccountExists, AccountStore
from campushub.identity.usernames import InvalidUsername, normalize_username

EXAMPLE = Path(__file__).parent / "config" / "campus.example.yaml"
ADMIN_PASSWORD_ENV = "CAMPUSHUB_ADMIN_PASSWORD"


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    admin: str
    generated_password: str | None  # None when taken from the environment or the account existed
    account_existed: bool


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def render_campus_yaml(admin: str) -> str:
    """The annotated example, with `admin` as the one admin."""
    yaml = YAML(typ="rt")
    document = yaml.load(EXAMPLE.read_text(encoding="utf-8"))
    document["admins"][0] = admin
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def prepare_data_dir(layout: Layout) -> None:
    """Create data_dir and its parts; private, since it holds secrets and the database."""
    for directory in (layout.data_dir, layout.logs_dir, layout.secrets_dir, layout.run_dir):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(layout.data_dir, 0o700)
    os.chmod(layout.secrets_dir, 0o700)
    # The courses service used to keep a standing API token here; the hub now gives it one at each start.
    (layout.secrets_dir / "courses-service-token").unlink(missing_ok=True)


def account_store(config: CampusConfig, layout: Layout) -> AccountStore:
    return AccountStore(database_url(config, layout))


def init(config_path: Path, admin: str) -> InitResult:
    try:
        admin = normalize_username(admin)
    except InvalidUsername as exc:
        raise UserError(f"--admin: {exc}.") from None
    if config_path.exists():
        raise UserError(
            f"{config_path} already exists; `init` never overwrites it. Edit it, or pass another file with -c."
        )
    try:
        config_path.write_text(render_campus_yaml(admin), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{config_path}: cannot be written ({exc.strerror}).") from None
    config = load_config(config_path).config
    layout = layout_for(config)
    try:
        prepare_data_dir(layout)
    except OSError as exc:
        raise UserError(f"the data directory {layout.data_dir} cannot be created ({exc.strerror}).") from None
    return create_admin_account(
        config, layout, config_path, admin, retry_hint="run `campushub init` again after removing it"
    )


def create_admin_account(
    config: CampusConfig, layout: Layout, config_path: Path, admin: str, retry_hint: str
) -> InitResult:
    """The first admin's built-in account: the password from $CAMPUSHUB_ADMIN_PASSWORD, or made and shown once."""
    password = os.environ.get(ADMIN_PASSWORD_ENV)
    generated = None
    minimum = config.sign_in.local_settings.min_password_length
    if not password:
        password = generated = generate_password()
    elif len(password) < minimum:
        raise UserError(
            f"${ADMIN_PASSWORD_ENV} is shorter than {minimum} characters; choose a longer one. "
            f"{config_path} was written; {retry_hint}."
        )
    store = account_store(config, layout)
    try:
        store.create(admin, password)
        existed = False
    except AccountExists:
        generated, existed = None, True
    finally:
        store.dispose()
    return InitResult(config_path, admin, generated, existed)


def first_admin_name(config: CampusConfig) -> str | None:
    """The built-in account a fresh campus needs: the first `admins` entry that built-in accounts may hold."""
    if "local" not in config.sign_in.methods:
        return None
    return next((name for name, method in config.admin_entries if method in (None, "local")), None)


def is_fresh(config: CampusConfig, layout: Layout) -> bool:
    """No hub has run on this data dir and nobody has an account or a name in it yet."""
    from campushub.hub.records import hub_tables_exist

    if hub_tables_exist(database_url(config, layout)):
        return False
    store = account_store(config, layout)
    try:
        return not store.names()
    finally:
        store.dispose()


def first_start_admin(config_path: Path, config: CampusConfig, layout: Layout) -> InitResult | None:
    """On a fresh data dir, the first admin's account, as `init` makes it, whatever the file is called.

    An admin who wrote /etc/campushub/campus.yaml by hand must have an account to sign in with at the
    first start, as one who let `up` write ./campus.yaml does. None: not fresh, or nothing to make.
    """
    admin = first_admin_name(config)
    if admin is None or not is_fresh(config, layout):
        return None
    return create_admin_account(config, layout, config_path, admin, retry_hint="set a longer one and start again")
