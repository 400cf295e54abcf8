"""Reading a machine's cgroup layout, and the control files a user's limits become (v1 and v2)."""

from __future__ import annotations

from pathlib import Path

from campushub.compute.cgroups import (
    HUB_LEAF,
    Hierarchy,
    Limits,
    UserCgroups,
    detect,
    limit_files,
    parse_mountinfo,
    parse_proc_cgroup,
    users_cpu_weight,
)

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_CGROUP = "9:name=systemd:/\n8:pids:/\n4:memory:/box/1\n1:cpu:/\n0::/\n"

V2_MOUNTINFO = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
V2_CGROUP = "0::/system.slice/campushub.service\n"


def fake_machine(tmp_path: Path, mountinfo: str, cgroup: str) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mountinfo").write_text(mountinfo)
    (proc / "cgroup").write_text(cgroup)
    return proc


def test_the_hybrid_layout_uses_each_v1_controller_under_campushubs_own_group(tmp_path):
    for directory in ("cpu", "memory/box/1", "pids", "unified"):
        (tmp_path / "sys/fs/cgroup" / directory).mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/unified/cgroup.controllers").write_text("hugetlb\n")
    support = detect(tmp_path, fake_machine(tmp_path, HYBRID_MOUNTINFO, HYBRID_CGROUP))
    assert support.usable["memory"] == Hierarchy("memory", 1, tmp_path / "sys/fs/cgroup/memory/box/1")
    assert support.usable["cpu"].base == tmp_path / "sys/fs/cgroup/cpu"
    assert {h.version for h in support.usable.values()} == {1}
    assert support.describe("pids") == "cgroup v1 `pids` controller"


def test_a_v2_tree_that_does_not_hand_out_a_controller_says_so(tmp_path):
    base = tmp_path / "sys/fs/cgroup/system.slice/campushub.service"
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text("cpu pids\n")
    support = detect(tmp_path, fake_machine(tmp_path, V2_MOUNTINFO, V2_CGROUP))
    assert set(support.usable) == {"cpu", "pids"}
    assert "does not hand the `memory` controller" in support.problems["memory"]
    assert "Delegate=" in support.problems["memory"]


def test_a_machine_without_a_controller_names_it(tmp_path):
    mountinfo = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    (tmp_path / "sys/fs/cgroup/memory").mkdir(parents=True)
    support = detect(tmp_path, fake_machine(tmp_path, mountinfo, "4:memory:/\n"))
    assert set(support.usable) == {"memory"}
    assert support.problems["pids"] == "no cgroup hierarchy on this machine has the `pids` controller"


def test_campushubs_own_v2_leaf_maps_back_to_its_service_group(tmp_path):
    base = tmp_path / "sys/fs/cgroup/system.slice/campushub.service"
    (base / HUB_LEAF).mkdir(parents=True)
    (base / "cgroup.controllers").write_text("memory\n")
    cgroup = f"0::/system.slice/campushub.service/{HUB_LEAF}\n"
    support = detect(tmp_path, fake_machine(tmp_path, V2_MOUNTINFO, cgroup))
    assert support.usable["memory"].base == base


def test_a_container_mount_of_a_subtree_is_followed(tmp_path):
    mountinfo = "35 31 0:32 /box /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    (tmp_path / "sys/fs/cgroup/memory/inner").mkdir(parents=True)
    support = detect(tmp_path, fake_machine(tmp_path, mountinfo, "4:memory:/box/inner\n"))
    assert support.usable["memory"].base == tmp_path / "sys/fs/cgroup/memory/inner"


def test_parsers_read_spaces_and_combined_controllers():
    mounts = parse_mountinfo(
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "40 31 0:30 / /mnt/with\\040space rw - cgroup2 cgroup2 rw\n"
    )
    assert mounts[0].controllers == frozenset({"cpu"}) and mounts[1].path == "/mnt/with space"
    v1, v2 = parse_proc_cgroup("3:cpu,cpuacct:/a\n0::/b\n")
    assert v1 == {"cpu": "/a"} and v2 == "/b"


def test_limits_become_the_control_files_of_each_version():
    limits = Limits(memory=512 << 20, cpu=1.5, processes=200)
    v1 = {c: limit_files(Hierarchy(c, 1, Path("/x")), limits) for c in ("memory", "cpu", "pids")}
    v2 = {c: limit_files(Hierarchy(c, 2, Path("/x")), limits) for c in ("memory", "cpu", "pids")}
    assert v1["memory"] == [("memory.limit_in_bytes", "536870912"), ("memory.memsw.limit_in_bytes", "536870912")]
    assert v1["cpu"] == [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "150000")]
    assert v2["memory"] == [("memory.max", "536870912"), ("memory.swap.max", "0")]
    assert v2["cpu"] == [("cpu.max", "150000 100000")]
    assert v1["pids"] == v2["pids"] == [("pids.max", "200")]
    assert limit_files(Hierarchy("memory", 1, Path("/x")), Limits(cpu=1)) == []
    assert users_cpu_weight(Hierarchy("cpu", 1, Path("/x")), 2) == (Path("/x/users/cpu.shares"), "2048")
    assert users_cpu_weight(Hierarchy("cpu", 2, Path("/x")), 4) == (Path("/x/users/cpu.weight"), "400")


def test_a_users_group_is_made_with_its_limits_and_removed_once_empty(tmp_path):
    for directory in ("cpu", "memory/box/1", "pids"):
        (tmp_path / "sys/fs/cgroup" / directory).mkdir(parents=True)
    support = detect(tmp_path, fake_machine(tmp_path, HYBRID_MOUNTINFO, HYBRID_CGROUP))
    groups = UserCgroups(support, Limits(memory=256 << 20, processes=64))
    procs = groups.prepare("alice")
    memory = tmp_path / "sys/fs/cgroup/memory/box/1/users/alice"
    assert procs == sorted(
        [str(memory / "cgroup.procs"), str(tmp_path / "sys/fs/cgroup/pids/users/alice/cgroup.procs")]
    )
    assert (memory / "memory.limit_in_bytes").read_text() == str(256 << 20)
    for leftover in memory.iterdir():  # a real cgroup directory has no removable files; this fake one must be emptied
        leftover.unlink()
    for leftover in (tmp_path / "sys/fs/cgroup/pids/users/alice").iterdir():
        leftover.unlink()
    groups.remove("alice")
    assert not memory.exists()


def test_limits_a_machine_cannot_enforce_are_refused_by_name(tmp_path):
    mountinfo = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    (tmp_path / "sys/fs/cgroup/memory").mkdir(parents=True)
    support = detect(tmp_path, fake_machine(tmp_path, mountinfo, "4:memory:/\n"))
    try:
        UserCgroups(support, Limits(memory=1 << 30, processes=100))
    except RuntimeError as exc:
        assert "pids: no cgroup hierarchy" in str(exc)
    else:
        raise AssertionError("a process limit without the pids controller must be refused")


def test_a_login_sessions_v2_group_is_not_divided(tmp_path):
    base = tmp_path / "sys/fs/cgroup/user.slice/session-4.scope"
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text("cpu memory pids\n")
    support = detect(tmp_path, fake_machine(tmp_path, V2_MOUNTINFO, "0::/user.slice/session-4.scope\n"))
    assert not support.usable
    assert "campushub service install" in support.problems["memory"]
