"""Which system accounts a server may run as: uid range, CampusHub's marker, adoption, the account prefix."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from campushub.compute.accounts_guard import MARKER, UnusableAccount, account_problem, check_account, prefix_clashes
from campushub.compute.forkserver import become, refuse_uid, uid_range_from
from campushub.compute.local import AccountRefused, never_as_root
from campushub.config.loader import parse_config
from campushub.config.schema import CampusConfig
from campushub.errors import UserError
from campushub.hub.settings import Layout, compute_settings

PEOPLE = (1000, 60000)


def entry(name: str = "nb-alice", uid: int = 1001, gecos: str = MARKER) -> pwd.struct_passwd:
    return pwd.struct_passwd((name, "x", uid, uid, gecos, f"/home/{name}", "/bin/bash"))


# --- login.defs -------------------------------------------------------------------------------------------------


def test_uid_range_is_read_from_login_defs() -> None:
    text = "# UID_MIN 5\nMAIL_DIR /var/mail\nUID_MIN\t\t 2000\nUID_MAX  40000 # people\nSYS_UID_MAX 999\n"
    assert uid_range_from(text) == (2000, 40000)


@pytest.mark.parametrize("text", ["", "UID_MIN lots\n", "UID_MIN\n"])
def test_uid_range_defaults_to_debians(text: str) -> None:
    assert uid_range_from(text) == (1000, 60000)


# --- accounts ---------------------------------------------------------------------------------------------------


def test_an_account_campushub_made_may_run_a_server() -> None:
    assert account_problem(entry(), PEOPLE, ()) is None
    assert account_problem(entry(gecos=f"{MARKER},room 3,,"), PEOPLE, ()) is None  # chfn may change the rest


@pytest.mark.parametrize("uid", [0, 999, 60001, 65534])
def test_root_and_system_uids_are_refused_even_when_adopted(uid: int) -> None:
    problem = account_problem(entry(uid=uid), PEOPLE, ("nb-alice",))
    assert problem and ("root" in problem if uid == 0 else f"uid {uid} is outside the range for people" in problem)


def test_an_account_campushub_did_not_make_is_refused_unless_adopted() -> None:
    foreign = entry(gecos="Alice Admin,,,")
    problem = account_problem(foreign, PEOPLE, ())
    assert problem and "CampusHub did not create it" in problem and "'Alice Admin'" in problem
    assert "compute.local.adopt_accounts" in problem
    assert account_problem(foreign, PEOPLE, ("nb-alice",)) is None
    assert account_problem(foreign, PEOPLE, ("nb-bob",)) is not None
    assert account_problem(entry(gecos="campushub user"), PEOPLE, ()) is not None  # the marker, exactly


def test_check_account_raises_with_the_reason() -> None:
    with pytest.raises(UnusableAccount) as info:
        check_account(pwd.getpwnam("root"), ["root"])
    assert str(info.value) == "system account root: it has uid 0 (root)"


def test_the_student_is_told_to_ask_an_admin() -> None:
    refused = AccountRefused("nb-alice")
    assert refused.status_code == 403
    assert refused.jupyterhub_message == (
        "Your server cannot start: the system account nb-alice on this machine cannot be used for it. "
        "Please ask an admin of this site."
    )


# --- the prefix -------------------------------------------------------------------------------------------------


def test_a_prefix_that_begins_a_system_accounts_name_clashes() -> None:
    accounts = [entry("systemd-network", 998), entry("systemd-timesync", 997), entry("nb-alice", 1001)]
    assert prefix_clashes("systemd-", accounts, PEOPLE) == ["systemd-network", "systemd-timesync"]
    assert prefix_clashes("nb-", accounts, PEOPLE) == []  # people's accounts made with the prefix are fine


@pytest.mark.parametrize("prefix", ["ro", "nb", "a", "nb-x", "stud"])
def test_a_prefix_must_end_in_a_separator(prefix: str) -> None:
    with pytest.raises(UserError, match=r"compute\.local\.user_prefix"):
        parse_config(f"compute:\n  local:\n    user_prefix: {prefix}\n", "campus.yaml")


@pytest.mark.parametrize("prefix", ["nb-", "nb_", "stud-", "t1a2b-", "abcdefg-"])
def test_prefixes_ending_in_a_separator_are_fine(prefix: str) -> None:
    config = parse_config(f"compute:\n  local:\n    user_prefix: {prefix}\n", "campus.yaml")
    assert config.compute.local.user_prefix == prefix


def test_adopted_accounts_and_the_logs_reach_the_spawner(tmp_path: Path) -> None:
    config = CampusConfig.model_validate({"compute": {"local": {"adopt_accounts": ["nb-alice"]}}})
    layout = Layout(data_dir=tmp_path / "data", environment=tmp_path, proxy_command="chp", running_as_root=True)
    spawner = compute_settings(config, layout)["CampusLocalSpawner"]
    assert spawner["adopt_accounts"] == ["nb-alice"]
    assert spawner["user_logs_dir"] == str(tmp_path / "data" / "logs" / "users")
    assert CampusConfig.model_validate({}).compute.local.adopt_accounts == []


# --- the last word: the fork server and the step before exec ------------------------------------------------------


@pytest.mark.parametrize("uid", [0, 500, 70000])
def test_the_fork_server_refuses_root_and_system_uids(uid: int) -> None:
    with pytest.raises(PermissionError, match=f"uid {uid} is root or a system account"):
        refuse_uid(uid, PEOPLE)
    refuse_uid(1000, PEOPLE)
    refuse_uid(60000, PEOPLE)


def test_become_refuses_uid_0_before_changing_anything() -> None:
    if os.getuid() != 0:
        pytest.fail("the unit tests run as root (make test): become() only drops privileges from root")
    with pytest.raises(PermissionError, match="uid 0 is root"):
        become({"uid": 0, "gid": 0, "groups": [], "umask": 0o022, "cwd": "/"})
    assert os.getuid() == 0  # nothing was dropped: the check comes first


def run_in_child(function) -> int:
    """Run `function` in a forked child (it may drop privileges); its exit status: 0 ran, 1 refused."""
    pid = os.fork()
    if pid == 0:
        try:
            function()
        except PermissionError:
            os._exit(1)
        except BaseException:
            os._exit(2)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_the_step_before_exec_refuses_to_stay_root() -> None:
    if os.getuid() != 0:
        pytest.fail("the unit tests run as root (make test)")
    assert run_in_child(never_as_root(lambda: None, None)) == 1  # still root: refused
    assert run_in_child(never_as_root(lambda: None, PEOPLE)) == 1
    nobody = pwd.getpwnam("nobody")  # uid 65534: dropped to, but a system account

    def drop_to_nobody() -> None:
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    assert run_in_child(never_as_root(drop_to_nobody, PEOPLE)) == 1
    assert run_in_child(never_as_root(drop_to_nobody, (1000, 65534))) == 0
