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
    password = os.environ.get(ADMIN_PASSWORD_ENV)
    generated = None
    if not password:
        password = generated = generate_password()
    elif len(password) < config.sign_in.local_settings.min_password_length:
        raise UserError(
            f"${ADMIN_PASSWORD_ENV} is shorter than {config.sign_in.local_settings.min_password_length} characters; "
            f"choose a longer one. {config_path} was written; run `campushub init` again after removing it."
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
