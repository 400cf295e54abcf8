"""`campushub upgrade` on a campus the previous release left behind, and the refusals around it.

The previous release's campus is a fixture made by that release's own code
(tests/fixtures/previous_release/make.py, which says how): its campus.yaml, its SQLite hub database and a
plain dump of the same campus on PostgreSQL, each with the user of release.json signed in once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyterhub import dbutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench.ports import free_port_block
from campushub.migrations import schema
from campushub.upgrade import release_of
from tests.components.postgres import PostgresServer, server_bin
from tests.helpers.databases import DATABASES, POSTGRESQL, SQLITE, stored_bytes
from tests.helpers.hub import TEST_USER_PREFIX, Campus, start_hub
from tests.helpers.hubclient import Student
from tests.helpers.sign_in import me

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "previous_release"
RELEASE = json.loads((FIXTURE / "release.json").read_text())
CAMPUSHUB_BASELINE = "0001_baseline"  # the previous release's tables, before any revision was recorded
CAMPUSHUB_HEAD = schema.head()
JUPYTERHUB_HEAD = "f460b0348206"  # JupyterHub 6.1's last revision, which the previous release ran with too
JUPYTERHUB_BEFORE = "ff1860e38070"  # the one before it


def revision(db_url: str, table: str) -> str | None:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT version_num FROM {table}")).scalar()
    finally:
        engine.dispose()


def set_revision(db_url: str, table: str, value: str) -> None:
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE {table} SET version_num = :value"), {"value": value})
    finally:
        engine.dispose()


def load_dump(url: str, dump: Path) -> None:
    """The previous release's PostgreSQL database, as pg_dump wrote it, loaded with psql."""
    parts = make_url(url)
    subprocess.run(
        [
            str(server_bin() / "psql"),
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            f"--dbname={parts.set(password=None).render_as_string(hide_password=False)}",
            f"--file={dump}",
        ],
        env={**os.environ, "PGPASSWORD": parts.password or ""},
        check=True,
        capture_output=True,
    )


def fingerprint(db_url: str) -> str:
    """What the database holds, to show that nothing changed: the SQLite file's bytes, or every row's values."""
    url = make_url(db_url)
    if url.get_backend_name() == SQLITE:
        return hashlib.sha256(Path(url.database).read_bytes()).hexdigest()
    return hashlib.sha256(stored_bytes(db_url)).hexdigest()


def previous_campus(tmp_path: Path) -> Campus:
    """The previous release's campus.yaml in tmp_path/campus, on free ports, with an empty data directory."""
    directory = tmp_path / "campus"
    (directory / "data").mkdir(parents=True, mode=0o700)
    shutil.copy(FIXTURE / "campus.yaml", directory / "campus.yaml")
    campus = Campus(directory, free_port_block())
    campus.update(**{"listen.port": campus.port, "compute.local.user_prefix": TEST_USER_PREFIX})
    return campus


@pytest.fixture
def sqlite_old_campus(tmp_path: Path) -> Campus:
    """The previous release's campus with its SQLite hub database."""
    campus = previous_campus(tmp_path)
    shutil.copy(FIXTURE / "campushub.sqlite", campus.directory / "data" / "campushub.sqlite")
    return campus


@pytest.fixture(params=DATABASES)
def old_campus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Campus]:
    """The previous release's campus, its hub database SQLite or PostgreSQL (loaded from the release's dump)."""
    if request.param == SQLITE:
        yield request.getfixturevalue("sqlite_old_campus")
        return
    assert request.param == POSTGRESQL
    campus = previous_campus(tmp_path)
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.new_database()
    load_dump(url, FIXTURE / "postgresql.sql")
    campus.update(**{"database.url": url})
    yield campus
    postgres.drop_database(url)


def backups(campus: Campus) -> list[Path]:
    return sorted((campus.directory / "data" / "backups").glob("pre-upgrade-*/*"))


def test_the_previous_releases_campus_upgrades_and_its_people_sign_in_as_before(old_campus: Campus) -> None:
    db_url = old_campus.database_url
    assert revision(db_url, "alembic_version") == JUPYTERHUB_HEAD

    first = old_campus.cli("upgrade", "--yes")
    assert first.returncode == 0, first.stderr
    assert f"JupyterHub's tables: at {JUPYTERHUB_HEAD} (JupyterHub" in first.stdout, first.stdout
    assert "CampusHub's tables: no revision recorded (made by CampusHub 0.1.0)" in first.stdout, first.stdout
    assert (
        f"CampusHub's tables: recorded as {CAMPUSHUB_BASELINE} (CampusHub 0.1.0's tables), unchanged." in first.stdout
    )
    upgraded = (
        f"CampusHub's tables: upgraded from {CAMPUSHUB_BASELINE} to {CAMPUSHUB_HEAD}{release_of(CAMPUSHUB_HEAD)}."
    )
    assert upgraded in first.stdout, first.stdout
    assert revision(db_url, "campushub_alembic_version") == CAMPUSHUB_HEAD
    assert revision(db_url, "alembic_version") == JUPYTERHUB_HEAD  # JupyterHub's own is left alone
    made = backups(old_campus)
    assert {path.name for path in made} == {
        "backup.json",
        "campushub.sqlite" if db_url.startswith("sqlite") else f"{make_url(db_url).database}.pgdump",
    }
    database_backup = next(path for path in made if path.name != "backup.json")
    assert f"Backed up the hub database to {database_backup}." in first.stdout
    assert database_backup.stat().st_mode & 0o077 == 0
    if db_url.startswith("sqlite"):
        restored = f"sqlite:///{database_backup}"
        assert revision(restored, "alembic_version") == JUPYTERHUB_HEAD  # the database as it was before
    else:
        assert database_backup.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert json.loads((database_backup.parent / "backup.json").read_text())["revisions"] == {
        "jupyterhub": JUPYTERHUB_HEAD,
        "campushub": None,
    }

    again = old_campus.cli("upgrade", "--yes")
    assert again.returncode == 0, again.stderr
    assert f"CampusHub's tables: at {CAMPUSHUB_HEAD}{release_of(CAMPUSHUB_HEAD)}, current." in again.stdout
    assert "Everything is current: nothing to do." in again.stdout
    assert backups(old_campus) == made  # no second backup for nothing

    hub = start_hub(old_campus)
    try:
        student = Student(hub.url, RELEASE["user"])
        student.sign_in(RELEASE["password"])
        assert (me(student) or {}).get("name") == RELEASE["user"], hub.output()
        admin = Student(hub.url, RELEASE["admin"])
        admin.sign_in(RELEASE["admin_password"])
        assert (me(admin) or {}).get("admin") is True, hub.output()
        stranger = Student(hub.url, RELEASE["user"])
        stranger.sign_in("not-the-password-1")
        assert me(stranger) is None
    finally:
        hub.stop()


def test_a_database_of_the_previous_release_is_refused_until_upgraded(sqlite_old_campus: Campus) -> None:
    """This release adds tables: nothing reads the database until `campushub upgrade` has backed it up and moved it."""
    before = fingerprint(sqlite_old_campus.database_url)
    for args in (["users", "list"], ["up"]):
        refused = sqlite_old_campus.cli(*args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert f"CampusHub's tables at revision {CAMPUSHUB_BASELINE}; this install needs {CAMPUSHUB_HEAD}" in (
            refused.stderr
        ), refused.stderr
        assert "`campushub upgrade`" in refused.stderr and "Traceback" not in refused.stderr
    assert fingerprint(sqlite_old_campus.database_url) == before
    assert backups(sqlite_old_campus) == []

    assert sqlite_old_campus.cli("upgrade", "--yes").returncode == 0
    listed = sqlite_old_campus.cli("users", "list")
    assert listed.returncode == 0, listed.stderr
    assert {line.split("\t")[0] for line in listed.stdout.splitlines()} == {RELEASE["admin"], RELEASE["user"]}
    assert revision(sqlite_old_campus.database_url, "campushub_alembic_version") == CAMPUSHUB_HEAD


def downgrade_jupyterhub(db_url: str, to: str, scratch: Path) -> None:
    """JupyterHub's tables as an older JupyterHub left them: JupyterHub's own migrations run backwards by alembic."""
    ini = scratch / "alembic.ini"
    dbutil.write_alembic_ini(str(ini), db_url)
    subprocess.run([sys.executable, "-m", "alembic", "-c", str(ini), "downgrade", to], check=True, capture_output=True)


def test_jupyterhub_tables_behind_the_installed_jupyterhub_are_refused_by_up_and_upgraded(
    sqlite_old_campus: Campus, tmp_path: Path
) -> None:
    campus = sqlite_old_campus
    downgrade_jupyterhub(campus.database_url, JUPYTERHUB_BEFORE, tmp_path)
    before = fingerprint(campus.database_url)

    refused = campus.cli("up")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"JupyterHub's tables at revision {JUPYTERHUB_BEFORE}" in refused.stderr, refused.stderr
    assert f"needs {JUPYTERHUB_HEAD}" in refused.stderr and "`campushub upgrade`" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert fingerprint(campus.database_url) == before

    upgraded = campus.cli("upgrade", "--yes")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"JupyterHub's tables: at {JUPYTERHUB_BEFORE}; to upgrade to {JUPYTERHUB_HEAD}" in upgraded.stdout
    assert f"JupyterHub's tables: upgraded from {JUPYTERHUB_BEFORE} to {JUPYTERHUB_HEAD}." in upgraded.stdout
    assert revision(campus.database_url, "alembic_version") == JUPYTERHUB_HEAD
    assert revision(campus.database_url, "campushub_alembic_version") == CAMPUSHUB_HEAD
    assert "Everything is current" in campus.cli("upgrade", "--yes").stdout


@pytest.mark.parametrize(
    ("table", "future", "upgraded_by"),
    [
        ("campushub_alembic_version", "0002_from_a_later_release", "a newer CampusHub:"),
        ("alembic_version", "0123456789ab", "a newer CampusHub (with the newer JupyterHub it installs)"),
    ],
)
def test_a_database_upgraded_by_a_newer_campushub_is_refused_and_left_alone(
    sqlite_old_campus: Campus, table: str, future: str, upgraded_by: str
) -> None:
    campus = sqlite_old_campus
    assert campus.cli("upgrade", "--yes").returncode == 0
    set_revision(campus.database_url, table, future)
    before = fingerprint(campus.database_url)
    made = backups(campus)

    for args in (["up"], ["upgrade", "--yes"], ["users", "list"]):
        result = campus.cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        message = result.stderr
        assert message.startswith("campushub: error: the hub database"), message
        assert f"was upgraded by {upgraded_by}" in message, message
        assert f"at revision {future}" in message, message
        assert "Install the CampusHub that upgraded it" in message and "restore the backup" in message, message
        assert "Traceback" not in message
    assert fingerprint(campus.database_url) == before
    assert backups(campus) == made


def test_upgrade_asks_first_and_needs_yes_without_a_terminal(sqlite_old_campus: Campus) -> None:
    before = fingerprint(sqlite_old_campus.database_url)
    result = sqlite_old_campus.cli("upgrade", input="")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pass --yes" in result.stderr
    assert fingerprint(sqlite_old_campus.database_url) == before
    assert backups(sqlite_old_campus) == []


def test_upgrade_is_refused_while_the_hub_runs(sqlite_old_campus: Campus) -> None:
    campus = sqlite_old_campus
    assert campus.cli("upgrade", "--yes").returncode == 0  # a hub runs only on a current database
    made = backups(campus)
    hub = start_hub(campus)
    try:
        result = campus.cli("upgrade", "--yes")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "CampusHub is running: `campushub up` runs as pid" in result.stderr, result.stderr
        assert "Stop it first" in result.stderr
        assert backups(campus) == made
    finally:
        hub.stop()
