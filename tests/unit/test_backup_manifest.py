"""A backup's manifest (built, then checked against the files) and the safety of homes' archives."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from campushub.backup.homes import MemberCheck, UnsafeArchive, extract_home, pack_home, scan_archive
from campushub.backup.manifest import (
    MANIFEST,
    HomeEntry,
    Manifest,
    ManifestError,
    describe,
    parse_manifest,
    path_problem,
    present_files,
    verify_backup,
)


def make_backup(root: Path) -> Manifest:
    """A small backup as `campushub backup --homes` lays it out, with its manifest."""
    root.mkdir()
    (root / "campus.yaml").write_text("name: Test\n")
    (root / "database").mkdir()
    (root / "database" / "campushub.sqlite").write_bytes(b"SQLite format 3\0" + bytes(100))
    (root / "secrets").mkdir()
    (root / "secrets" / "jupyterhub_cookie_secret").write_text("ab" * 32)
    (root / "homes").mkdir()
    home = root / "alice-home"
    home.mkdir()
    (home / "thesis.txt").write_text("chapter one")
    packed = pack_home(home, root / "homes" / "alice.tar.gz")
    (home / "thesis.txt").unlink()
    home.rmdir()
    manifest = Manifest(
        campushub_version="0.1.0",
        created="2026-11-29T10:00:00+00:00",
        database="sqlite",
        mode="personal",
        homes_included=True,
        files=tuple(describe(root, relative) for relative in sorted(present_files(root))),
        homes=(HomeEntry("alice", "homes/alice.tar.gz", packed.files, packed.bytes),),
    )
    (root / MANIFEST).write_bytes(manifest.to_json())
    return manifest


def test_a_whole_backup_verifies_and_reads_back_as_built(tmp_path: Path) -> None:
    built = make_backup(tmp_path / "backup")
    assert verify_backup(tmp_path / "backup") == built
    assert [entry.path for entry in built.files] == [
        "campus.yaml",
        "database/campushub.sqlite",
        "homes/alice.tar.gz",
        "secrets/jupyterhub_cookie_secret",
    ]
    assert built.secrets == ["secrets/jupyterhub_cookie_secret"] and built.homes[0].files == 1


def test_one_changed_byte_is_found_and_named(tmp_path: Path) -> None:
    make_backup(tmp_path / "backup")
    target = tmp_path / "backup" / "database" / "campushub.sqlite"
    data = bytearray(target.read_bytes())
    data[20] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="SHA-256") as found:
        verify_backup(tmp_path / "backup")
    assert found.value.file == "database/campushub.sqlite"


def test_a_missing_file_a_shorter_file_and_an_extra_file_are_named(tmp_path: Path) -> None:
    make_backup(tmp_path / "missing")
    (tmp_path / "missing" / "secrets" / "jupyterhub_cookie_secret").unlink()
    with pytest.raises(ManifestError, match="missing from the backup") as found:
        verify_backup(tmp_path / "missing")
    assert found.value.file == "secrets/jupyterhub_cookie_secret"

    make_backup(tmp_path / "short")
    with (tmp_path / "short" / "campus.yaml").open("r+b") as handle:
        handle.truncate(3)
    with pytest.raises(ManifestError, match="has 3 bytes") as found:
        verify_backup(tmp_path / "short")
    assert found.value.file == "campus.yaml"

    make_backup(tmp_path / "extra")
    (tmp_path / "extra" / "secrets" / "planted").write_text("x")
    with pytest.raises(ManifestError, match="not in its manifest") as found:
        verify_backup(tmp_path / "extra")
    assert found.value.file == "secrets/planted"


def test_a_backup_without_a_manifest_is_incomplete(tmp_path: Path) -> None:
    make_backup(tmp_path / "backup")
    (tmp_path / "backup" / MANIFEST).unlink()
    with pytest.raises(ManifestError, match="incomplete"):
        verify_backup(tmp_path / "backup")


def test_a_symbolic_link_in_a_backup_is_refused(tmp_path: Path) -> None:
    make_backup(tmp_path / "backup")
    (tmp_path / "backup" / "secrets" / "link").symlink_to("/etc/shadow")
    with pytest.raises(ManifestError, match="not a plain file") as found:
        verify_backup(tmp_path / "backup")
    assert found.value.file == "secrets/link"


def document(tmp_path: Path) -> dict:
    make_backup(tmp_path / "backup")
    return json.loads((tmp_path / "backup" / MANIFEST).read_bytes())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="something-else"), "not the manifest of a CampusHub backup"),
        (lambda d: d.update(format_version=2), "format version 2"),
        (lambda d: d.update(database="mysql"), "unknown database kind"),
        (lambda d: d["files"].append({"path": "../outside", "size": 1, "sha256": "0" * 64}), "bad file path"),
        (lambda d: d["files"].append({"path": "/etc/passwd", "size": 1, "sha256": "0" * 64}), "bad file path"),
        (lambda d: d["files"].append(dict(d["files"][0])), "lists a file twice"),
        (lambda d: d["files"][0].update(sha256="xyz"), "no valid SHA-256"),
        (lambda d: d["files"][0].update(size=-1), "no valid size"),
        (lambda d: d["files"].append({"path": "notes/x", "size": 1, "sha256": "0" * 64}), "restore would not know"),
        (lambda d: d.update(files=[f for f in d["files"] if f["path"] != "campus.yaml"]), "does not list campus"),
        (lambda d: d["homes"][0].update(user="../root"), "not a CampusHub username"),
        (lambda d: d["homes"][0].update(file="homes/bob.tar.gz"), "puts alice's home in"),
        (lambda d: d.update(homes_included=False), "lists homes but says homes are not included"),
    ],
)
def test_a_malformed_manifest_is_refused(tmp_path: Path, change, message: str) -> None:
    data = document(tmp_path)
    change(data)
    with pytest.raises(ManifestError, match=message):
        parse_manifest(json.dumps(data).encode())


def test_not_json_is_refused() -> None:
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_manifest(b"{not json")


def test_plain_relative_paths_only() -> None:
    assert path_problem("secrets/x") is None
    for bad in ("", "/abs", "a/../b", "./a", "a//b", "a\\b", "a/", None):
        assert path_problem(bad) is not None, bad


# Homes' archives


def archive_of(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([(member("../evil"), b"x")], "`..`"),
        ([(member("sub/../../evil"), b"x")], "`..`"),
        ([(member("/etc/cron.d/evil"), b"x")], "absolute path"),
        ([(member("out", tarfile.SYMTYPE, "/etc"), None)], "outside the home"),
        ([(member("out", tarfile.SYMTYPE, "../../etc"), None)], "outside the home"),
        ([(member("a/b", tarfile.SYMTYPE, "../../x"), None)], "outside the home"),
        (
            [(member("link", tarfile.SYMTYPE, "sub"), None), (member("link/file"), b"x")],
            "through a symbolic link",
        ),
        ([(member("hard", tarfile.LNKTYPE, "/etc/shadow"), None)], "hard link"),
        ([(member("hard", tarfile.LNKTYPE, "not-there"), None)], "hard link"),
        ([(member("dev", tarfile.CHRTYPE), None)], "device file or pipe"),
        ([(member("fifo", tarfile.FIFOTYPE), None)], "device file or pipe"),
        ([(member("twice"), b"x"), (member("twice"), b"y")], "same path"),
    ],
)
def test_unsafe_archives_are_refused_before_anything_is_written(tmp_path: Path, members, reason: str) -> None:
    archive = archive_of(tmp_path / "evil.tar.gz", *members)
    with pytest.raises(UnsafeArchive, match=reason):
        scan_archive(archive)
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(UnsafeArchive, match=reason):
        extract_home(archive, home, None)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "etc").exists()


def test_links_inside_the_home_are_kept() -> None:
    check = MemberCheck()
    check.check(member("dir", tarfile.DIRTYPE))
    check.check(member("dir/file"))
    assert check.check(member("dir/up", tarfile.SYMTYPE, "../dir/file")) == "dir/up"
    assert check.check(member("again", tarfile.LNKTYPE, "dir/file")) == "again"
    assert check.check(member(".", tarfile.DIRTYPE)) is None


def test_a_garbled_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(UnsafeArchive, match="cannot be read"):
        scan_archive(tmp_path / "bad.tar.gz")


def test_a_home_packs_and_extracts_with_its_links_and_modes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "notebooks").mkdir(parents=True)
    (home / "notebooks" / "lab1.ipynb").write_text('{"cells": []}')
    (home / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(home / "run.sh", 0o4755)  # setuid: never restored
    (home / "latest").symlink_to("notebooks/lab1.ipynb")
    (home / "shared").symlink_to("/srv/shared")  # a link out of the home: left out, and said so
    os.link(home / "run.sh", home / "run-again.sh")
    os.mkfifo(home / "pipe")
    archive = tmp_path / "home.tar.gz"
    packed = pack_home(home, archive)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert sorted(packed.left_out) == [
        "pipe (a socket, pipe or device)",
        "shared (a link out of the home, to /srv/shared)",
    ]
    assert scan_archive(archive).files == 3

    restored = tmp_path / "restored"
    restored.mkdir()
    extract_home(archive, restored, (os.getuid(), os.getgid()))
    assert (restored / "notebooks" / "lab1.ipynb").read_text() == '{"cells": []}'
    assert os.readlink(restored / "latest") == "notebooks/lab1.ipynb"
    assert (restored / "run-again.sh").stat().st_ino == (restored / "run.sh").stat().st_ino
    assert stat.S_IMODE((restored / "run.sh").stat().st_mode) == 0o755
    assert not (restored / "shared").exists() and not (restored / "pipe").exists()


def test_a_file_of_the_new_home_is_replaced_but_a_symlink_there_is_not_followed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("from the backup\n")
    archive = tmp_path / "home.tar.gz"
    pack_home(home, archive)
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched\n")
    target = tmp_path / "target"
    target.mkdir()
    (target / ".bashrc").symlink_to(outside)
    extract_home(archive, target, None)
    assert (target / ".bashrc").read_text() == "from the backup\n" and not (target / ".bashrc").is_symlink()
    assert outside.read_text() == "untouched\n"
