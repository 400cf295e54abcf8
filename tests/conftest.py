"""Fixtures: one per real component, and the databases the tests run on.

- `campus`: a campus.yaml written by the real `campushub init`, in a temporary directory; its hub database is
  SQLite unless the test is parametrized over `campus_database` (tests.helpers.databases.on_both_databases).
- `hub`: the real `campushub up` (JupyterHub + configurable-http-proxy + idle culler) on loopback.
- `postgres`: a real PostgreSQL, started once per session when a test first asks for it.
- `db_url`: an empty hub database, once on SQLite and once on PostgreSQL.
- `docker_engine`: a private dockerd with its data root cached between runs; `user_image`: campushub/user built in it.
- `slapd`, `oidc_provider`, `github_standin`: the directory and the sign-in providers (tests/components).
- `kdc`: a real MIT Kerberos KDC on loopback (two realms, a trust, the hub's keytab), started once per session.
- `slurm`: a real one-node Slurm cluster (munged, slurmctld, slurmd) on loopback, started once per session.
- `package_index`: a Python package index on loopback serving a wheel made for the test (bench/package_index.py);
  `environments_dir`: a folder for the environments a test builds, readable by users' servers.
- `browser` (tests/browser): Debian chromium driven by Playwright.

What the fixtures are made of lives in tests/helpers and tests/components; this file only puts it together.
System accounts made for test users carry the session's TEST_USER_PREFIX and are removed when the session ends.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from bench.package_index import GREETING, PackageIndex, running_index
from tests.components.docker import DOCKERD, DockerEngine, running_docker
from tests.components.github import GitHub, running_github
from tests.components.kdc import Kdc, running_kdc
from tests.components.kdc import missing_binaries as missing_kdc_binaries
from tests.components.oidc import ClientSpec, Provider, StartProvider, UserSpec, missing_node_tools, running_provider
from tests.components.postgres import INSTALL_ROOT, PostgresServer, running_postgres, server_bin
from tests.components.slapd import SLAPD, Directory, running_directory
from tests.components.slurm import SlurmCluster, missing_binaries, running_slurm
from tests.helpers.databases import DATABASES, POSTGRESQL, SQLITE, sqlite_url
from tests.helpers.hub import TEST_USER_PREFIX, Campus, RunningHub, new_campus, start_hub
from tests.helpers.ldap_settings import READER_ENV
from tests.helpers.parallel import WrongGroup, check_group, claim_port_share, group_scheduling, rank

claim_port_share()  # before any fixture asks for a port

CHECKOUT = Path(__file__).resolve().parents[1]


def pytest_itemcollected(item: pytest.Item) -> None:
    """A test asking for the Docker engine or the Slurm cluster must be in their group (tests/helpers/parallel.py)."""
    try:
        check_group(relative_path(item), getattr(item, "fixturenames", ()))
    except WrongGroup as wrong:
        raise pytest.UsageError(str(wrong)) from None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest groups first, for the parallel workers to take in that order; otherwise as collected."""
    order = {id(item): position for position, item in enumerate(items)}
    items.sort(key=lambda item: (rank(relative_path(item)), order[id(item)]))


@pytest.hookimpl(optionalhook=True)  # run without xdist (`-p no:xdist`) as well
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Groups of files to workers (tests/helpers/parallel.py): what the machine has one of stays on one worker."""
    return group_scheduling(config, log)


def relative_path(item: pytest.Item) -> str:
    return item.path.resolve().relative_to(CHECKOUT).as_posix()


@pytest.fixture
def campus_database(request: pytest.FixtureRequest) -> str:
    """Which database the `campus` fixture's hub keeps: SQLite (what `init` sets up) unless parametrized."""
    return getattr(request, "param", SQLITE)


@pytest.fixture
def campus(tmp_path: Path, campus_database: str, request: pytest.FixtureRequest) -> Iterator[Campus]:
    """A fresh campus made by `campushub init`, on free loopback ports, its hub database `campus_database`."""
    campus = new_campus(tmp_path / "campus")
    if campus_database == SQLITE:
        yield campus
        return
    assert campus_database == POSTGRESQL, campus_database
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.new_database()
    campus.use_database(url)
    yield campus
    postgres.drop_database(url)


@pytest.fixture
def hub_factory(campus: Campus) -> Iterator[Callable[..., RunningHub]]:
    """Start the campus's hub (after the test has adjusted campus.yaml); stopped after the test."""
    started: list[RunningHub] = []

    def start(*args: str, **kwargs) -> RunningHub:
        hub = start_hub(campus, *args, **kwargs)
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def hub(hub_factory: Callable[..., RunningHub]) -> RunningHub:
    """A running hub on the default test campus."""
    return hub_factory()


@pytest.fixture(scope="session", autouse=True)
def remove_test_system_accounts() -> Iterator[None]:
    """Test users' system accounts (TEST_USER_PREFIX*) are this session's own: remove them afterwards."""
    yield
    if os.geteuid() != 0:
        return
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(TEST_USER_PREFIX):
            subprocess.run(["pkill", "-KILL", "-u", entry.pw_name], check=False)
            subprocess.run(["userdel", "--remove", entry.pw_name], check=False, capture_output=True)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[object]:
    """Playwright, once per worker: its sync API refuses a second instance while one is running, so the browser
    tests' chromium and any test that launches a chromium of its own (Kerberos: its ticket in the environment)
    share this one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """test-artifacts/ in the checkout: the screenshots the browser tests take, to look at afterwards."""
    path = CHECKOUT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL (Debian's) on a loopback port: started the first time a test asks, stopped at the end."""
    if server_bin() is None:
        pytest.fail(f"no PostgreSQL under {INSTALL_ROOT}: `make test` installs Debian's postgresql", pytrace=False)
    with running_postgres() as server:
        yield server


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty hub database, the test run once on each: an SQLite file in tmp_path, a fresh PostgreSQL database."""
    if request.param == SQLITE:
        yield sqlite_url(tmp_path)
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.new_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="session")
def slapd() -> Iterator[Directory]:
    """A real OpenLDAP (Debian's slapd) on loopback, seeded as tests/components/slapd.py says; stopped afterwards."""
    if not SLAPD.exists():
        pytest.fail(f"{SLAPD} is missing: `make test` installs slapd", pytrace=False)
    with running_directory() as directory:
        yield directory


@pytest.fixture(scope="session")
def kdc() -> Iterator[Kdc]:
    """A real MIT Kerberos KDC (Debian's krb5-kdc) on loopback with realms CAMPUS.TEST and OTHER.TEST (trusted),
    people in both and the hub's keytab, as tests/components/kdc.py says; stopped afterwards."""
    missing = missing_kdc_binaries()
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: `make test` installs krb5-kdc, krb5-admin-server and krb5-user",
                    pytrace=False)  # fmt: skip
    with running_kdc() as kdc:
        yield kdc


@pytest.fixture
def directory_reader_password(monkeypatch: pytest.MonkeyPatch, slapd: Directory) -> None:
    """campus.yaml says `bind_password: ${CAMPUSHUB_TEST_LDAP_READER}`, as the docs recommend: set it."""
    monkeypatch.setenv(READER_ENV, slapd.reader_password)


@pytest.fixture
def oidc_provider() -> Iterator[StartProvider]:
    """`start(clients, users)` runs a fresh provider per call; all of them are stopped when the test ends.

    A factory, not one shared provider, because each test wants its own clients (redirect URIs name
    the hub's port) and users. Missing node/npm is a broken test machine, so it fails rather than skips.
    """
    missing = missing_node_tools()
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found on PATH: the OpenID Connect tests run oidc-provider on Node.js "
            "(install nodejs and npm)",
            pytrace=False,
        )
    with ExitStack() as providers:

        def start(clients: Sequence[ClientSpec], users: Sequence[UserSpec], **options: object) -> Provider:
            return providers.enter_context(running_provider(clients, users, **options))

        yield start


@pytest.fixture
def github_standin() -> Iterator[Callable[[Sequence[dict], Sequence[dict]], GitHub]]:
    """`start(clients, users)` serves GitHub's OAuth app flow and API on loopback (no real GitHub is reachable)."""
    with ExitStack() as servers:

        def start(clients: Sequence[dict], users: Sequence[dict]) -> GitHub:
            return servers.enter_context(running_github(clients, users))

        yield start


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmCluster]:
    """A real one-node Slurm cluster (Debian's), as tests/components/slurm.py says: started once, stopped at the end."""
    missing = missing_binaries()
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: `make test` installs slurmctld, slurmd, slurm-client and munge",
            pytrace=False,
        )
    with running_slurm() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A real Docker engine of the tests' own (tests/components/docker.py): started once, stopped at the end."""
    if not DOCKERD.exists():
        pytest.fail(f"{DOCKERD} is missing: `make test` installs docker.io", pytrace=False)
    with running_docker() as engine:
        yield engine


@pytest.fixture(scope="session")
def user_image(docker_engine: DockerEngine) -> str:
    """campushub/user:<version>, built in the engine by `campushub images build`'s code (minutes once, then cached)."""
    from campushub.compute.images import build_images

    *_, user = build_images(docker_engine.docker_host, CHECKOUT, docker_engine.cache_dir)
    return user.image


@pytest.fixture
def package_index() -> Iterator[PackageIndex]:
    """A package index on loopback (bench/package_index.py) holding campushub-demo-greeting 1.0."""
    with running_index([GREETING]) as index:
        yield index


@pytest.fixture
def environments_dir() -> Iterator[Path]:
    """Where a test's builds go: users' servers read it, so it cannot be under pytest's private tmp_path."""
    directory = Path(tempfile.mkdtemp(prefix="campushub-environments-", dir="/var/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)  # only what the test's builds installed


@pytest.fixture
def build_account() -> Iterator[str]:
    """A name for `environments.builder_account`, removed after the test.

    Not under TEST_USER_PREFIX: the builder is a *system* account, and CampusHub rightly refuses to start
    while a system account's name begins with its `user_prefix` (every later hub of the session would fail).
    """
    name = f"chbuild{secrets.token_hex(3)}"
    yield name
    subprocess.run(["pkill", "-KILL", "-u", name], check=False, capture_output=True)
    subprocess.run(["userdel", name], check=False, capture_output=True)
