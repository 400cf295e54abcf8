"""The library's store: immutable versions on disk, who sees what, limits, and names that cannot lead outside."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from campushub.library.store import (
    LibraryRefused,
    LibraryStore,
    Metadata,
    changes_between,
    check_relative_path,
    check_slug,
    main_file,
    slug_for,
)

MB = 1 << 20


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LibraryStore]:
    store = LibraryStore(f"sqlite:///{tmp_path / 'hub.sqlite'}", tmp_path / "library")
    yield store
    store.dispose()


def folder(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def publish(store: LibraryStore, source: Path, slug: str = "week-1", owner: str = "alice", **meta) -> tuple:
    meta.setdefault("title", "Week 1")
    return store.publish(owner, slug, source, Metadata(**meta), max_project_size=MB, max_user_size=3 * MB)


def test_a_publish_is_a_read_only_version_without_hidden_files_or_links(store: LibraryStore, tmp_path: Path) -> None:
    source = folder(
        tmp_path / "work",
        {
            "analysis.ipynb": "{}",
            "data/points.csv": "x,y\n1,2\n",
            ".env": "SECRET=1",
            ".ipynb_checkpoints/analysis-checkpoint.ipynb": "{}",
            ".git/config": "[core]",
        },
    )
    (tmp_path / "elsewhere.txt").write_text("not for the library")
    os.symlink(tmp_path / "elsewhere.txt", source / "link.txt")
    project, version = publish(store, source, tags=("Regression", "stats, Python"), description="Fits.")
    assert (project.owner, project.slug, project.latest, project.tags) == (
        "alice",
        "week-1",
        1,
        ("regression", "stats", "python"),
    )
    assert (version.number, version.files, version.main) == (1, 2, "analysis.ipynb")
    assert [f.path for f in store.list_files("alice", "week-1", 1)] == ["analysis.ipynb", "data/points.csv"]
    copied = store.file_path("alice", "week-1", 1, "data/points.csv")
    assert copied.read_text() == "x,y\n1,2\n"
    assert stat.S_IMODE(copied.stat().st_mode) == 0o444
    assert stat.S_IMODE(copied.parent.stat().st_mode) == 0o555
    assert version.changes == {"added": ["analysis.ipynb", "data/points.csv"], "changed": [], "removed": []}


def test_a_second_publish_is_a_new_version_and_the_first_stays_as_it_was(store: LibraryStore, tmp_path: Path) -> None:
    source = folder(tmp_path / "work", {"a.ipynb": "{}", "notes.md": "# one", "old.txt": "x"})
    publish(store, source)
    (source / "notes.md").write_text("# two")
    (source / "old.txt").unlink()
    (source / "b.ipynb").write_text("{}")
    project, version = publish(store, source, note="Added part b")
    assert (project.latest, version.number, version.note) == (2, 2, "Added part b")
    assert version.changes == {"added": ["b.ipynb"], "changed": ["notes.md"], "removed": ["old.txt"]}
    assert store.file_path("alice", "week-1", 1, "notes.md").read_text() == "# one"
    assert store.file_path("alice", "week-1", 2, "notes.md").read_text() == "# two"
    assert [v.number for v in store.versions("alice", "week-1")] == [2, 1]


def test_limits_per_project_and_per_person_are_refused_with_what_to_do(store: LibraryStore, tmp_path: Path) -> None:
    big = folder(tmp_path / "big", {"data.bin": b"0" * (MB + 1)})
    with pytest.raises(LibraryRefused, match=r"1\.0 MB; a project version may hold up to 1\.0 MB .*max_project_size"):
        publish(store, big)
    assert not (tmp_path / "library" / "alice" / "week-1").exists()
    part = folder(tmp_path / "part", {"data.bin": b"0" * (MB - 1000)})
    for number in range(3):
        publish(store, part, slug=f"p{number}")
    with pytest.raises(
        LibraryRefused, match=r"alice keeps 3\.0 MB in the library.*max_user_size.*Nothing was published"
    ):
        publish(store, part, slug="p4")
    assert store.project("alice", "p4", "alice") is None
    publish(store, part, slug="p4", owner="bob")  # the limit is per person


def test_who_sees_what(store: LibraryStore, tmp_path: Path) -> None:
    source = folder(tmp_path / "work", {"a.ipynb": "{}"})
    publish(store, source, slug="open", title="Open regression", tags=("stats",))
    publish(store, source, slug="link", title="By link only", visibility="unlisted")
    publish(store, source, slug="mine", title="Draft", visibility="private")
    assert [p.slug for p in store.gallery()] == ["open"]
    assert [p.slug for p in store.gallery(query="REGRESSION")] == ["open"]
    assert [p.slug for p in store.gallery(tag="stats")] == ["open"]
    assert store.gallery(tag="stat") == [], "a tag matches whole"
    assert store.gallery(query="draft") == []
    assert store.project("alice", "link", None) is not None, "unlisted: anyone with the link"
    assert store.project("alice", "mine", None) is None
    assert store.project("alice", "mine", "bob") is None
    assert store.project("alice", "mine", "alice") is not None
    assert sorted(p.slug for p in store.gallery(viewer="alice", owner="alice")) == ["link", "mine", "open"]
    assert [p.slug for p in store.gallery(viewer="bob", owner="alice")] == ["open"]


@pytest.mark.parametrize(
    "path",
    ["../x", "a/../../x", "/etc/passwd", ".env", "data/.hidden", "a\\..\\b", "a//b", "a/./b", "", "nul\x00.txt", ".."],
)
def test_a_path_that_could_lead_outside_a_version_is_refused(store: LibraryStore, tmp_path: Path, path: str) -> None:
    publish(store, folder(tmp_path / "work", {"a.ipynb": "{}"}))
    with pytest.raises(LibraryRefused, match="is not a file of this project"):
        store.file_path("alice", "week-1", 1, path)


def test_a_link_planted_in_a_version_is_not_followed(store: LibraryStore, tmp_path: Path) -> None:
    publish(store, folder(tmp_path / "work", {"a.ipynb": "{}"}))
    version = tmp_path / "library" / "alice" / "week-1" / "1"
    version.chmod(0o755)
    os.symlink("/etc/passwd", version / "passwd")
    with pytest.raises(LibraryRefused):
        store.file_path("alice", "week-1", 1, "passwd")


def test_names_and_the_main_file() -> None:
    assert slug_for("Week 3: Regression!") == "week-3-regression"
    assert slug_for("!!!") == "project"
    for bad in ("Week", "-x", "a_b", "a" * 64, "../x"):
        with pytest.raises(LibraryRefused):
            check_slug(bad)
    assert str(check_relative_path("data/ünïcode file.csv")) == "data/ünïcode file.csv"
    assert main_file(["z.ipynb", "sub/index.ipynb", "README.md"]) == "z.ipynb"
    assert main_file(["sub/b.ipynb", "sub/a.ipynb"]) == "sub/a.ipynb"
    assert main_file(["README.md", "x.py"]) == "README.md"
    with pytest.raises(LibraryRefused, match=r"--main 'nope\.ipynb' is not among the published files"):
        main_file(["a.ipynb"], "nope.ipynb")
    assert changes_between({"a": "1", "b": "2"}, {"b": "3", "c": "4"}) == {
        "added": ["c"],
        "changed": ["b"],
        "removed": ["a"],
    }


def test_up_checks_the_library_port_only_when_the_library_runs(tmp_path: Path) -> None:
    import socket

    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import layout_for, library_port
    from campushub.preflight import probes

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1] - 3
        config = CampusConfig.model_validate({"listen": {"port": port}, "data_dir": str(tmp_path)})
        assert library_port(config) == taken.getsockname()[1]
        found = {probe.name: probe.problem for probe in probes(config, layout_for(config))}
        assert "(the library service) is not free" in (found["library port"] or "")
        off = config.model_copy(update={"library": config.library.model_copy(update={"enabled": False})})
        assert "library port" not in {probe.name for probe in probes(off, layout_for(off))}
