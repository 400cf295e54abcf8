"""Unpacking a copy into a workspace: plain files under a new folder, never a link, never outside, never over work."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from campushub.library.copy import free_name, pack, unpack
from campushub.library.store import LibraryRefused


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def test_a_version_packs_and_unpacks_into_a_new_folder_and_a_second_copy_beside_it(tmp_path: Path) -> None:
    version = tmp_path / "version"
    (version / "data").mkdir(parents=True)
    (version / "a.ipynb").write_text("{}")
    (version / "data" / "x.csv").write_text("x\n1\n")
    archive = pack(version, ["a.ipynb", "data/x.csv"])
    home = tmp_path / "home"
    home.mkdir()
    first = unpack("lena-week", archive, home)
    assert first == home / "library" / "lena-week"
    assert (first / "data" / "x.csv").read_text() == "x\n1\n"
    (first / "a.ipynb").write_text("my edits")
    second = unpack("lena-week", archive, home)
    assert second.name == "lena-week-2"
    assert (first / "a.ipynb").read_text() == "my edits"
    assert [p.name for p in (home / "library").iterdir() if p.name.startswith(".")] == [], "no staging left"


def test_links_devices_and_paths_out_of_the_folder_are_never_unpacked(tmp_path: Path) -> None:
    link = tarfile.TarInfo("passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("shadow")
    hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/shadow"
    device = tarfile.TarInfo("null")
    device.type = tarfile.CHRTYPE
    home = tmp_path / "home"
    home.mkdir()
    made = unpack("p", tar_of((link, b""), (hard, b""), (device, b""), (tarfile.TarInfo("ok.txt"), b"ok")), home)
    assert sorted(p.name for p in made.iterdir()) == ["ok.txt"]
    for name in ("../escape.txt", "/abs.txt", ".bashrc"):
        with pytest.raises(LibraryRefused):
            unpack("q", tar_of((tarfile.TarInfo(name), b"x")), home)
    assert not (home / "library" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    assert sorted(p.name for p in (home / "library").iterdir()) == ["p"], "a refused copy leaves nothing behind"


def test_a_library_path_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (home / "library").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SystemExit, match="is not a folder"):
        unpack("p", tar_of((tarfile.TarInfo("a.txt"), b"a")), home)
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert free_name(tmp_path, "elsewhere").name == "elsewhere-2"
