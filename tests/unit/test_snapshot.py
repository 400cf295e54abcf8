"""The effective configuration `up` writes and the hub and services read: the same config, privately kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from campushub.config.loader import load_config, override_listen
from campushub.config.snapshot import SNAPSHOT_ENV, read_snapshot, snapshot_path, write_snapshot
from campushub.errors import UserError
from campushub.hub.layout import Layout

CAMPUS_YAML = """\
name: Example University
data_dir: state
listen: {port: 9100}
sign_in:
  ldap:
    forest-a:
      url: ldaps://a.example.edu
      ca_cert: certs/ca.pem
      search: {base: "ou=people,dc=a", bind_dn: "cn=reader,dc=a", bind_password: "${READER_PASSWORD}"}
      groups_base: ou=groups,dc=a
    forest-b:
      url: ldaps://b.example.edu
      bind_dn_templates: ["uid={username},ou=people,dc=b"]
  oidc:
    campus: {preset: google, client_id: the-id, client_secret: the-secret, hosted_domain: [example.edu]}
compute: {idle_timeout: 30m}
courses:
  phys101:
    members: [ann]
    groups: [phys-students]
    meetings: [{days: [mon, wed], start: "09:00", end: "10:30"}]
    warm_before: 10m
"""


def layout_in(directory: Path) -> Layout:
    return Layout(data_dir=directory, environment=Path("/opt/env"), proxy_command="chp", running_as_root=False)


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("READER_PASSWORD", "s3cret-bind")
    path = tmp_path / "campus.yaml"
    path.write_text(CAMPUS_YAML)
    return load_config(path)


@pytest.mark.filterwarnings("error::UserWarning")  # pydantic warns when it serializes a value by the wrong model
def test_the_snapshot_reads_back_as_the_same_configuration(loaded, tmp_path: Path) -> None:
    config = override_listen(loaded.config, "0.0.0.0", 9200)
    layout = layout_in(config.data_dir)
    read = read_snapshot(write_snapshot(config, layout))
    assert read == config
    assert read.listen.ip == "0.0.0.0" and read.listen.port == 9200  # `up`'s overrides are in it
    assert read.data_dir == tmp_path / "state" and read.data_dir.is_absolute()
    ldap = read.sign_in.of_type("ldap")
    assert ldap["forest-a"].ca_cert == tmp_path / "certs" / "ca.pem"
    assert ldap["forest-a"].search.bind_password == "s3cret-bind"  # ${ENV} expanded once, by `up`
    assert list(ldap) == ["forest-a", "forest-b"]  # page order survives
    assert read.sign_in.of_type("oidc")["campus"].client_secret == "the-secret"
    assert read.courses["phys101"].warm_before == 600


def test_a_method_not_configured_stays_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty key means "on, with defaults" in campus.yaml: the snapshot must not turn absent methods on."""
    path = tmp_path / "campus.yaml"
    path.write_text("sign_in:\n  oidc:\n    campus: {preset: google, client_id: a, client_secret: b}\n")
    config = load_config(path).config
    read = read_snapshot(write_snapshot(config, layout_in(tmp_path / "data")))
    assert read.sign_in.methods == ["campus"]
    assert read == config


def test_the_snapshot_is_private(loaded, tmp_path: Path) -> None:
    layout = layout_in(tmp_path / "data")
    path = write_snapshot(loaded.config, layout)
    assert path == layout.snapshot_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    write_snapshot(loaded.config, layout)  # replaced whole, no temporary file left beside it
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]


def test_no_snapshot_says_to_start_campushub(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no effective configuration yet\. Run `campushub up`"):
        read_snapshot(tmp_path / "effective-config.json")


@pytest.mark.parametrize("text", ["{not json", '{"listen": {"port": "many"}}', "[]"])
def test_a_damaged_snapshot_says_to_start_campushub_again(tmp_path: Path, text: str) -> None:
    path = tmp_path / "effective-config.json"
    path.write_text(text)
    with pytest.raises(UserError, match=r"damaged .*Run `campushub up` to write it again"):
        read_snapshot(path)


def test_the_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SNAPSHOT_ENV, "/srv/campus/data/secrets/effective-config.json")
    assert snapshot_path() == Path("/srv/campus/data/secrets/effective-config.json")
    monkeypatch.delenv(SNAPSHOT_ENV)
    with pytest.raises(UserError, match="campushub up"):
        snapshot_path()
