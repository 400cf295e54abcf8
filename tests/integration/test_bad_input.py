"""Every user mistake: one clear paragraph on stderr, exit status 2, no traceback, nothing lost."""

from __future__ import annotations

import socket

import pytest

from bench.ports import free_port_block
from tests.helpers.databases import on_both_databases
from tests.helpers.hub import ADMIN_PASSWORD, Campus, run_cli, start_hub
from tests.helpers.hubclient import Student

pytestmark = pytest.mark.integration


def assert_user_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    message = result.stderr.strip()
    assert message.startswith("campushub: error: ")
    assert "\n" not in message, f"not one paragraph: {message!r}"
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in message


def write(campus: Campus, text: str) -> None:
    campus.config_path.write_text(text)


def test_unknown_key_names_file_line_and_suggestion(campus):
    write(campus, f"name: Test\nlisten:\n  port: {campus.port}\nsign-in:\n  local: {{}}\n")
    assert_user_error(campus.cli("up"), "campus.yaml:4", "unknown key `sign-in`", "Did you mean `sign_in`?")


def test_wrong_type_names_the_key(campus):
    write(campus, "name: Test\nlisten:\n  ip: 127.0.0.1\n  port: eighty\n")
    assert_user_error(campus.cli("up"), "campus.yaml:4", "`listen.port`", "'eighty'")


def test_bad_value_names_the_key(campus):
    write(campus, "compute:\n  idle_timeout: 10\n")
    assert_user_error(campus.cli("check"), "campus.yaml:2", "`compute.idle_timeout`", "greater than or equal to 30")


def test_port_in_use(campus):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", campus.port))
        squatter.listen()
        assert_user_error(campus.cli("up"), f"port {campus.port}", "not free", "--port")
        check = campus.cli("check")
        assert check.returncode == 1 and f"FAIL public port: port {campus.port}" in check.stdout


def test_data_dir_not_writable(campus):
    campus.update(data_dir="/proc/campushub-data")
    assert_user_error(campus.cli("up"), "/proc/campushub-data", "not writable", "data_dir")


def test_missing_proxy(campus):
    result = campus.cli("up", env={"CAMPUSHUB_PROXY": "/nonexistent/configurable-http-proxy"})
    assert_user_error(result, "configurable-http-proxy is not installed", "make up")


def test_missing_config_file_with_c(campus):
    """`check` reads a file, it never writes one (`up` would set a missing one up: test_first_start.py)."""
    assert_user_error(campus.cli("check", "-c", "elsewhere.yaml"), "elsewhere.yaml: no such file", "campushub init")


def test_a_missing_file_in_a_missing_directory(campus):
    assert_user_error(campus.cli("up", "-c", "nowhere/campus.yaml"), "nowhere/campus.yaml", "cannot be written")


def test_bad_port_override(campus):
    assert_user_error(campus.cli("up", "--port", "70000"), "--ip/--port")


def test_init_never_overwrites(campus):
    before = campus.config_path.read_text()
    assert_user_error(campus.cli("init"), "already exists")
    assert campus.config_path.read_text() == before


@on_both_databases
def test_user_commands_explain_mistakes(campus):
    assert campus.cli("users", "add", "kim", "--password-stdin", input="pw-for-kim-1\n").returncode == 0
    assert_user_error(campus.cli("users", "add", "kim"), "'kim' already exists")
    assert_user_error(campus.cli("users", "add", "Bad Name"), "not a valid username")
    assert_user_error(campus.cli("users", "add", "a", "b", "--password-stdin", input="only-one\n"), "expected 2")
    assert_user_error(campus.cli("users", "approve", "ghost"), "no account 'ghost'")
    assert_user_error(campus.cli("users", "remove", "ghost"), "no user 'ghost'")
    assert_user_error(campus.cli("users", "release", "ghost"), "'ghost' is not reserved")
    assert_user_error(campus.cli("users", "refuse", "ghost"), "no pending request for 'ghost'")
    assert_user_error(campus.cli("users", "add", "lee", "--password-stdin", input="short\n"), "shorter than 10")
    assert_user_error(campus.cli("users", "passwd", "ghost"), "no account 'ghost'")
    new_password = campus.cli("users", "passwd", "kim").stdout.split("\t")[1].strip()
    assert len(new_password) >= 12
    listing = campus.cli("users", "list").stdout
    assert "kim\tactive" in listing and "admin\tactive" in listing


def test_check_reports_the_effective_config_with_secrets_masked(campus):
    campus.update(**{"database.url": "postgresql://hub:s3cret-pw@db.example.edu/hub"})
    result = campus.cli("check")
    assert "s3cret-pw" not in result.stdout
    assert "postgresql://hub:***@db.example.edu/hub" in result.stdout
    assert f"port: {campus.port}" in result.stdout


def test_check_passes_on_a_fresh_campus(campus):
    result = campus.cli("check")
    assert result.returncode == 0, result.stdout
    assert "FAIL" not in result.stdout


def test_up_without_campus_yaml_sets_one_up_first(tmp_path):
    port = free_port_block()
    campus = Campus(tmp_path, port)
    hub = start_hub(campus, "--port", str(port), env={"CAMPUSHUB_ADMIN_PASSWORD": ADMIN_PASSWORD})
    try:
        assert campus.config_path.exists()
        assert "Admin account 'admin' created" in hub.output()
        admin = Student(hub.url, "admin")
        admin.sign_in(ADMIN_PASSWORD)
        assert admin.hub_api("GET", "/user").json()["admin"] is True
    finally:
        assert hub.stop() == 0


def test_generated_admin_password_is_printed_once(tmp_path):
    result = run_cli("init", "--admin", "Root-Admin", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    password = result.stdout.split("shown only now:")[1].split()[0]
    assert len(password) >= 12
    assert "root-admin" in (tmp_path / "campus.yaml").read_text()
    log_dir = tmp_path / "data" / "logs"
    assert not any(password in path.read_text() for path in log_dir.glob("*"))
