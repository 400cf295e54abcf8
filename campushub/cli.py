"""The `campushub` command."""

from __future__ import annotations

import getpass
import io
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import click
from ruamel.yaml import YAML

from campushub import __version__
from campushub.cli_options import config_option
from campushub.config.loader import load_config, override_listen
from campushub.config.schema import CampusConfig
from campushub.config.snapshot import write_snapshot
from campushub.courses.by_hand import warm_by_hand
from campushub.environments.commands import environments_group
from campushub.errors import UserError
from campushub.hub.layout import database_url, layout_for
from campushub.identity.accounts import PENDING, AccountExists, AccountStore, NoSuchAccount
from campushub.identity.usernames import InvalidUsername, normalize_username
from campushub.library.commands import library_group
from campushub.plugins import plugin_names
from campushub.preflight import probes
from campushub.setup import account_store, first_start_admin, generate_password, init, prepare_data_dir


@click.group()
@click.version_option(__version__, prog_name="campushub")
def cli() -> None:
    """CampusHub: a campus notebook platform on JupyterHub."""


@cli.command("init")
@config_option
@click.option("--admin", default="admin", show_default=True, help="Username of the first admin account.")
def init_command(config_path: Path, admin: str) -> None:
    """Write a commented campus.yaml, create the data directory and the first admin account."""
    _print_init(init(config_path, admin))


def _print_init(result) -> None:
    click.echo(f"Wrote {result.config_path} (edit it, then `campushub check`).")
    _print_admin(result)


def _print_admin(result) -> None:
    if result.account_existed:
        click.echo(f"Admin account {result.admin!r} already exists; its password is unchanged.")
    elif result.generated_password:
        click.echo(f"Admin account {result.admin!r} created. Its password, shown only now:")
        click.echo(f"    {result.generated_password}")
    else:
        click.echo(f"Admin account {result.admin!r} created with the password from $CAMPUSHUB_ADMIN_PASSWORD.")


@cli.command("up")
@config_option
@click.option("--ip", default=None, help="Override listen.ip.")
@click.option("--port", type=int, default=None, help="Override listen.port.")
def up_command(config_path: Path, ip: str | None, port: int | None) -> None:
    """Run CampusHub in the foreground until Ctrl-C or SIGTERM."""
    from campushub.runtime import public_url, run_hub

    if not config_path.exists():
        click.echo(f"No {config_path} here: setting one up first.")
        _print_init(init(config_path, "admin"))
    loaded = load_config(config_path)
    config = override_listen(loaded.config, ip, port)
    layout = layout_for(config)
    refuse_second_up(layout)
    problems = [probe.problem for probe in probes(config, layout) if probe.problem]
    if problems:
        raise UserError(
            problems[0]
            + (f" ({len(problems) - 1} more problem(s): run `campushub check`.)" if len(problems) > 1 else "")
        )
    prepare_data_dir(layout)
    first_admin = first_start_admin(loaded.path, config, layout)
    if first_admin is not None:
        click.echo(f"First start of {config.name} with {loaded.path}:")
        _print_admin(first_admin)
    if not layout.running_as_root:
        click.echo(
            "WARNING: CampusHub is not running as root (personal mode): every user's server runs as "
            f"{getpass.getuser()!r} and users are NOT isolated from each other. Run as root on a shared machine.",
            err=True,
        )
    prepare_hub_start(config)
    if plugin_names():
        click.echo(f"plug-ins: {', '.join(plugin_names())}")
    click.echo(f"Starting {config.name} at {public_url(config)} (logs: {layout.logs_dir / 'campushub.log'})")

    def reread() -> CampusConfig:
        return override_listen(load_config(loaded.path).config, ip, port)

    sys.exit(run_hub(config, layout, reread=reread, prepare=prepare_hub_start))


def prepare_hub_start(config: CampusConfig) -> None:
    """Before each start of the hub (the first, and each reload): admin flags, service tokens, the snapshot."""
    layout = layout_for(config)
    for change in apply_admins_list(config):
        click.echo(change)
    revoke_stale_service_tokens(config, layout)
    write_snapshot(config, layout)


def refuse_second_up(layout) -> None:
    """Two `up` on one data directory would fight over its ports and its servers."""
    from campushub.runtime import running_pid, up_pid_file

    pid = running_pid(up_pid_file(layout), "campushub")
    if pid is not None:
        raise UserError(
            f"CampusHub is already running from {layout.data_dir} (pid {pid}). Stop it first, or run "
            "`campushub reload` to apply a changed campus.yaml without stopping anyone's server."
        )


def revoke_stale_service_tokens(config: CampusConfig, layout) -> None:
    """The services the hub runs get a fresh token at each start: the ones from earlier starts go."""
    from campushub.plugins import services_for
    from campushub.services.access import revoke_service_tokens

    managed = [service.name for service in services_for(config, layout) if service.command]
    revoke_service_tokens(database_url(config, layout), managed)


def apply_admins_list(config: CampusConfig) -> list[str]:
    """Admin flags follow campus.yaml's `admins` at every start (JupyterHub alone never takes them back)."""
    from campushub.hub.records import sync_admins
    from campushub.identity.admins import admin_verdicts

    layout = layout_for(config)
    store = account_store(config, layout)
    try:
        granted, refused = admin_verdicts(config.admin_entries, config.sign_in.chosen_name_methods, store.owner)
        return sync_admins(database_url(config, layout), store, granted, refused)
    finally:
        store.dispose()


@cli.command("reload")
@config_option
@click.option("--wait", "wait_seconds", type=float, default=60.0, show_default=True, help="How long to wait.")
def reload_command(config_path: Path, wait_seconds: float) -> None:
    """Apply a changed campus.yaml to the running CampusHub without stopping anyone's server."""
    from campushub.config.snapshot import read_snapshot
    from campushub.reload import changed_sections, only_for_new_servers, restart_needed
    from campushub.runtime import running_pid, up_pid_file

    config = load_config(config_path).config
    layout = layout_for(config)
    pid = running_pid(up_pid_file(layout), "campushub")
    if pid is None:
        raise UserError(
            f"CampusHub is not running from {layout.data_dir} (the `data_dir` of {config_path}): start it with "
            "`campushub up`. If you have just changed `data_dir`, stop the running CampusHub and start it again."
        )
    running = read_snapshot(layout.snapshot_file)
    # The port and address `up` was started with (--ip/--port) stay; everything else comes from the file.
    config = override_listen(config, running.listen.ip, running.listen.port)
    needed = restart_needed(running, config)
    if needed:
        raise UserError(f"{config_path}: {needed}. Nothing was changed.")
    changes = changed_sections(running, config)
    if not changes:
        click.echo("campus.yaml has not changed since CampusHub started: nothing to reload.")
        return
    for key in changes:
        later = only_for_new_servers(key, config.compute.backend)
        click.echo(f"  {key}" + (": servers started from now on (running ones keep theirs until restarted)" * later))
    hub_pid_file = layout.run_dir / "hub.pid"
    before = running_pid(hub_pid_file, "jupyterhub")
    os.kill(pid, signal.SIGHUP)
    if not wait_for_reload(config, hub_pid_file, before, wait_seconds):
        raise UserError(
            f"CampusHub did not take the new campus.yaml within {wait_seconds:.0f} s: see "
            f"{layout.logs_dir / 'campushub.log'} for why (it keeps running as it was)."
        )
    click.echo("Reloaded: the hub restarted with the new campus.yaml; no user's server was stopped.")


def wait_for_reload(config: CampusConfig, hub_pid_file: Path, before: int | None, wait: float) -> bool:
    """True once a new hub (another pid) runs and answers."""
    import time

    from campushub.courses.hubapi import HubAPI, HubAPIError
    from campushub.runtime import running_pid
    from campushub.services.access import hub_api_url

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if running_pid(hub_pid_file, "jupyterhub") in (None, before):
            continue
        try:
            status, _ = HubAPI(hub_api_url(config), "").request("GET", "/")
        except HubAPIError:
            continue
        if status == 200:
            return True
    return False


@cli.command("check")
@config_option
def check_command(config_path: Path) -> None:
    """Validate campus.yaml, show the effective configuration and probe what can be probed."""
    loaded = load_config(config_path)
    config = loaded.config
    click.echo(f"# {loaded.path}: valid. Effective configuration (secrets masked):")
    click.echo(effective_yaml(config))
    from campushub.identity.diagnostics import sign_in_problems

    found = probes(config, layout_for(config))
    results = [(probe.name, probe.problem) for probe in found]
    results += sign_in_problems(config)
    if plugin_names():
        results.append((f"plug-ins: {', '.join(plugin_names())}", None))
    for name, problem in results:
        click.echo(f"FAIL {name}: {problem}" if problem else f"ok   {name}")
    if any(probe.problem and probe.security for probe in found):
        sys.exit(2)  # a security hole, not just a mistake: scripts and CI can tell them apart
    sys.exit(1 if any(problem for _, problem in results) else 0)


def effective_yaml(config: CampusConfig) -> str:
    data = mask_secret_values(config.model_dump(mode="json"))
    if data["database"]["url"]:
        data["database"]["url"] = mask_url_password(data["database"]["url"])
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue()


def mask_secret_values(node: object) -> object:
    """Hide the value of every key that names a password or secret."""
    if isinstance(node, dict):
        return {
            key: "[hidden]"
            if isinstance(value, str) and value and ("password" in key or "secret" in key)
            else mask_secret_values(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [mask_secret_values(value) for value in node]
    return node


def mask_url_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "[hidden]"


@cli.command("upgrade")
@config_option
@click.option(
    "--backup-to",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory for the backup made first. Default: data_dir/backups/pre-upgrade-TIME.",
)
@click.option("--yes", is_flag=True, help="Do not ask before backing up and upgrading.")
def upgrade_command(config_path: Path, backup_to: Path | None, yes: bool) -> None:
    """After installing a new CampusHub: back up the hub database, then upgrade JupyterHub's and CampusHub's tables.

    Run it with CampusHub stopped; run again, it says everything is current.
    """
    from campushub.upgrade import run_upgrade

    config = load_config(config_path).config

    def confirm() -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise UserError("`campushub upgrade` asks before changing the database: pass --yes to run it unattended.")
        return click.confirm("Back up the hub database, then upgrade it?", default=False)

    run_upgrade(config, layout_for(config), backup_to, confirm, click.echo)


@cli.command("token")
@config_option
@click.option("--user", "username", required=True, help="Whose token.")
@click.option("--scopes", multiple=True, help="Scopes to limit the token to (repeatable). Default: the user's own.")
@click.option("--note", default="campushub token", show_default=True)
def token_command(config_path: Path, username: str, scopes: tuple[str, ...], note: str) -> None:
    """Print a new API token for a user (for scripts)."""
    from campushub.tokens import new_token

    name = _username(username)
    click.echo(new_token(load_config(config_path).path, name, list(scopes) or None, note))


@cli.command("backup")
@config_option
@click.option("--homes", is_flag=True, help="Also pack each user's home, one .tar.gz per user.")
@click.argument("dest", type=click.Path(path_type=Path))
def backup_command(config_path: Path, homes: bool, dest: Path) -> None:
    """Back up the hub database, secrets, campus.yaml and jupyterhub_config.d into the new directory DEST.

    The hub may keep running. DEST holds secrets: it is made private (0700, files 0600).
    """
    from campushub.backup.commands import backup

    for line in backup(config_path, dest, homes).summary():
        click.echo(line)


@cli.command("restore")
@config_option
@click.option("--force", is_flag=True, help="Replace an SQLite hub database that has users (it is kept aside).")
@click.argument("src", type=click.Path(path_type=Path))
def restore_command(config_path: Path, force: bool, src: Path) -> None:
    """Restore a backup made by `campushub backup` onto this machine (CampusHub stopped).

    The backup is checked against its manifest first; users' homes that exist and are not empty are never
    overwritten.
    """
    from campushub.backup.commands import restore

    for line in restore(config_path, src, force).summary():
        click.echo(line)


@cli.group("users")
def users_group() -> None:
    """Manage users: built-in accounts, and removal for every sign-in method."""


def _store(config: CampusConfig) -> AccountStore:
    layout = layout_for(config)
    prepare_data_dir(layout)
    return account_store(config, layout)


def _username(raw: str) -> str:
    try:
        return normalize_username(raw)
    except InvalidUsername as exc:
        raise UserError(f"{exc}.") from None


@users_group.command("list")
@config_option
@click.option("--all", "every_name", is_flag=True, help="Every name CampusHub knows, with its method and state.")
def users_list(config_path: Path, every_name: bool) -> None:
    """List built-in accounts with their status (--all: every name, whichever method owns it)."""
    store = _store(load_config(config_path).config)
    if every_name:
        click.echo("name\tmethod\tstate")
        for record in store.names():
            click.echo(f"{record.name}\t{record.method}\t{record.state}")
        return
    for account in store.list():
        click.echo(f"{account.name}\t{account.status}\t{account.created:%Y-%m-%d %H:%M}")


@users_group.command("add")
@config_option
@click.argument("names", nargs=-1, required=True)
@click.option("--password-stdin", is_flag=True, help="Read one password per line from stdin, in the order of NAMES.")
def users_add(config_path: Path, names: tuple[str, ...], password_stdin: bool) -> None:
    """Create accounts; prints `name<TAB>password` for each generated password."""
    normalized = [_username(name) for name in names]
    if len(set(normalized)) != len(normalized):
        raise UserError("the same username is given twice.")
    config = load_config(config_path).config
    passwords = _read_passwords(len(normalized), config) if password_stdin else [None] * len(normalized)
    store = _store(config)
    for name in normalized:
        if store.removed(name):
            raise UserError(
                f"{name!r} is a removed user's name, reserved so that nobody inherits anything of theirs; "
                f"`campushub users release {name}` frees it. Nothing was created."
            )
    for name, password in zip(normalized, passwords, strict=True):
        generated = password is None
        try:
            store.create(name, password or (password := generate_password()))
        except AccountExists:
            raise UserError(f"account {name!r} already exists; nothing after it was created.") from None
        click.echo(f"{name}\t{password}" if generated else f"{name}\tcreated")


def _read_passwords(count: int, config: CampusConfig) -> list[str]:
    lines = [line.rstrip("\r\n") for line in sys.stdin.read().splitlines()]
    if len(lines) < count or any(not line for line in lines[:count]):
        raise UserError(f"--password-stdin: expected {count} non-empty line(s), one password per name.")
    minimum = config.sign_in.local_settings.min_password_length
    for number, password in enumerate(lines[:count], start=1):
        if len(password) < minimum:
            raise UserError(
                f"--password-stdin: password {number} is shorter than {minimum} characters "
                "(sign_in.local.min_password_length); nothing was changed."
            )
    return lines[:count]


@users_group.command("passwd")
@config_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin instead of generating one.")
def users_passwd(config_path: Path, name: str, password_stdin: bool) -> None:
    """Set a new password; prints `name<TAB>password` when it was generated."""
    name = _username(name)
    config = load_config(config_path).config
    password = _read_passwords(1, config)[0] if password_stdin else generate_password()
    try:
        _store(config).set_password(name, password)
    except NoSuchAccount:
        raise UserError(f"no account {name!r}; `campushub users list` shows them.") from None
    click.echo(f"{name}\tpassword set" if password_stdin else f"{name}\t{password}")


@users_group.command("approve")
@config_option
@click.argument("names", nargs=-1, required=True)
def users_approve(config_path: Path, names: tuple[str, ...]) -> None:
    """Approve pending accounts (sign-up mode `approval`)."""
    from campushub.identity.handlers import approval_refusal

    store = _store(load_config(config_path).config)
    for name in map(_username, names):
        if store.get(name) is None:
            raise UserError(f"no account {name!r}; `campushub users list` shows them.")
        refusal = approval_refusal(store, name)
        if refusal:
            raise UserError(refusal)
        store.approve(name)
        click.echo(f"{name}\tapproved")


@users_group.command("refuse")
@config_option
@click.argument("names", nargs=-1, required=True)
def users_refuse(config_path: Path, names: tuple[str, ...]) -> None:
    """Refuse pending sign-up requests (nothing else of the name's holder is touched)."""
    store = _store(load_config(config_path).config)
    for name in map(_username, names):
        account = store.get(name)
        if account is None or account.status != PENDING:
            raise UserError(f"no pending request for {name!r}; `campushub users list --all` shows every name.")
        store.remove(name)
        click.echo(f"{name}\trequest refused")


@users_group.command("remove")
@config_option
@click.argument("names", nargs=-1, required=True)
def users_remove(config_path: Path, names: tuple[str, ...]) -> None:
    """Remove users of any sign-in method: stop their server, archive then delete their files and system
    account, and keep their name reserved until `campushub users release`."""
    from campushub.removal import remove_user

    config = load_config(config_path).config
    layout = layout_for(config)
    store = _store(config)
    for name in map(_username, names):
        removal = remove_user(config, layout, store, name)
        if removal.archive is None:
            click.echo(f"{name}\t{removal.note}")
        else:
            click.echo(f"{name}\t{removal.note}; files archived in {removal.archive.path}")
        if removal.note == "removed":
            click.echo(f"  the name {name!r} stays reserved: `campushub users release {name}` frees it", err=True)


@users_group.command("release")
@config_option
@click.argument("names", nargs=-1, required=True)
def users_release(config_path: Path, names: tuple[str, ...]) -> None:
    """Free the names of removed users (or a stale claim), so someone new may use them."""
    from campushub.removal import release_name

    config = load_config(config_path).config
    store = _store(config)
    for name in map(_username, names):
        click.echo(f"{name}\t{release_name(store, database_url(config, layout_for(config)), name)}")


@users_group.command("invite")
@config_option
@click.option("--uses", type=click.IntRange(1), default=1, show_default=True, help="How many accounts it creates.")
@click.option("--days", type=click.IntRange(1), default=14, show_default=True, help="Days until it expires.")
def users_invite(config_path: Path, uses: int, days: int) -> None:
    """Print a new invite code (sign-up mode `invite`)."""
    click.echo(_store(load_config(config_path).config).create_invite(uses, timedelta(days=days)))


@cli.group("courses")
def courses_group() -> None:
    """Courses from campus.yaml: warm their students' servers."""


@courses_group.command("warm")
@config_option
@click.argument("course_id")
def courses_warm(config_path: Path, course_id: str) -> None:
    """Start the servers of everyone in COURSE_ID now (the running hub paces them)."""
    config = load_config(config_path).config
    course = config.courses.get(course_id)
    if course is None:
        known = ", ".join(sorted(config.courses)) or "none"
        raise UserError(f"no course {course_id!r} in campus.yaml (courses: {known}).")
    report = warm_by_hand(config, course_id)
    click.echo(f"{course_id}: {len(report.started)} started, {len(report.already_running)} already running")
    for note in report.notes:
        click.echo(f"  {note}", err=True)
    for name, reason in report.failed.items():
        click.echo(f"  {name}: {reason}", err=True)
    if report.failed:
        sys.exit(1)


@cli.group("images")
def images_group() -> None:
    """Container images for the docker backend, built on this machine (nothing is pulled)."""


@images_group.command("build")
@config_option
def images_build(config_path: Path) -> None:
    """Build the user image (a Debian base, then the user environment) on compute.docker's engine, if out of date."""
    from campushub.compute.images import ImageBuildError, build_images

    config = load_config(config_path).config
    layout = layout_for(config)
    project_root = Path(__file__).resolve().parents[1]
    if not (project_root / "pyproject.toml").exists():
        raise UserError(f"`campushub images build` needs CampusHub's source checkout; {project_root} is not one.")
    click.echo(f"Building on {config.compute.docker.docker_host} (the first build takes a few minutes)...")
    try:
        results = build_images(config.compute.docker.docker_host, project_root, layout.data_dir / "cache" / "images")
    except ImageBuildError as failed:
        raise UserError(f"the image build failed: {failed}") from None
    for result in results:
        state = f"built in {result.seconds:.0f} s" if result.built else "up to date"
        click.echo(f"{result.image}: {state}, {result.size_bytes / (1 << 20):.0f} MiB")


@cli.group("deploy")
def deploy_group() -> None:
    """Write what another platform needs to run this campus (nothing is deployed)."""


@deploy_group.command("kubernetes")
@config_option
@click.option(
    "--hub-image",
    required=True,
    metavar="NAME:TAG",
    help="The hub image you built: the chart's hub image with CampusHub installed (docs/kubernetes.md).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the values here (mode 0600: they hold secrets) instead of standard output.",
)
def deploy_kubernetes(config_path: Path, hub_image: str, output: Path | None) -> None:
    """Write Helm values for the Zero to JupyterHub chart whose hub runs this campus.yaml on KubeSpawner."""
    from campushub.deploy.kubernetes import render_values

    text = render_values(load_config(config_path).config, hub_image)
    if output is None:
        click.echo(text, nl=False)
        return
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    click.echo(f"Helm values written to {output}: `helm upgrade --install` them as docs/kubernetes.md says.")


@cli.group("service")
def service_group() -> None:
    """Run CampusHub under systemd: its unit, and the logrotate file of its log."""


unit_dir_option = click.option(
    "--unit-dir",
    type=click.Path(path_type=Path),
    default=Path("/etc/systemd/system"),
    show_default=True,
    help="Where the unit NAME.service goes.",
)
logrotate_dir_option = click.option(
    "--logrotate-dir",
    type=click.Path(path_type=Path),
    default=Path("/etc/logrotate.d"),
    show_default=True,
    help="Where the logrotate file NAME goes.",
)
service_name_option = click.option(
    "--name", default="campushub", show_default=True, help="Name of the unit (NAME.service) and logrotate file."
)


@service_group.command("install")
@config_option
@unit_dir_option
@logrotate_dir_option
@service_name_option
@click.option("--force", is_flag=True, help="Replace files that differ from what CampusHub writes.")
@click.option("--now", is_flag=True, help="Then `systemctl daemon-reload` and `enable --now` (systemd only).")
def service_install(config_path: Path, unit_dir: Path, logrotate_dir: Path, name: str, force: bool, now: bool) -> None:
    """Write a systemd unit that runs `campushub up -c CONFIG`, and a logrotate file for the hub log."""
    from campushub.service_unit import install

    for line in install(config_path, unit_dir, logrotate_dir, name, force, now):
        click.echo(line)


@service_group.command("show")
@config_option
@unit_dir_option
@logrotate_dir_option
@service_name_option
def service_show(config_path: Path, unit_dir: Path, logrotate_dir: Path, name: str) -> None:
    """Print the unit and the logrotate file `install` would write, writing nothing."""
    from campushub.service_unit import show

    click.echo(show(config_path, unit_dir, logrotate_dir, name), nl=False)


@service_group.command("uninstall")
@unit_dir_option
@logrotate_dir_option
@service_name_option
@click.option("--force", is_flag=True, help="Remove the files even if CampusHub did not write them.")
def service_uninstall(unit_dir: Path, logrotate_dir: Path, name: str, force: bool) -> None:
    """Remove the unit and the logrotate file (disable the unit first: `systemctl disable --now NAME`)."""
    from campushub.service_unit import uninstall

    for line in uninstall(unit_dir, logrotate_dir, name, force):
        click.echo(line)


@cli.command("logs")
@config_option
@click.argument("name")
@click.option("--lines", "-n", type=click.IntRange(1), default=100, show_default=True, help="How many lines.")
def logs_command(config_path: Path, name: str, lines: int) -> None:
    """Print the end of a user's server log (their server's and kernels' output, kept out of the hub log)."""
    from campushub.compute.user_logs import tail

    name = _username(name)
    config = load_config(config_path).config
    layout = layout_for(config)
    directory = layout.logs_dir / "users"
    try:
        found = tail(directory, name, lines)
    except PermissionError:
        raise UserError(f"{directory} can only be read by root (the account that runs CampusHub).") from None
    if found is None:
        if not _hub_knows(database_url(config, layout), name):
            raise UserError(f"no user {name!r} has signed in to this hub: check the name.")
        raise UserError(f"{name!r} has no server log yet: their server has not started since logs were kept.")
    for line in found:
        click.echo(line)


def _hub_knows(db_url: str, name: str) -> bool:
    """Whether JupyterHub's database has `name` (any sign-in method puts users there)."""
    from jupyterhub import orm

    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).exists():
        return False  # no hub has run here yet (and asking would create the database)
    try:
        session = orm.new_session_factory(db_url)()
    except Exception:
        return False  # no database yet: nobody has signed in
    try:
        return orm.User.find(session, name) is not None
    finally:
        session.close()
        session.get_bind().dispose()


cli.add_command(library_group)
cli.add_command(environments_group)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except UserError as exc:
        click.echo(f"campushub: error: {exc}", err=True)
        sys.exit(exc.exit_status)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
