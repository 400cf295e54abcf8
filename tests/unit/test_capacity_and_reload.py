"""Admission by free memory, what `check` says about limits, and what a reload may change (pure parts)."""

from __future__ import annotations

from pathlib import Path

from campushub.compute.admission import admission_problem, memory_available
from campushub.compute.cgroups import CgroupSupport, Hierarchy
from campushub.compute.limits import limit_probes
from campushub.config.loader import parse_config
from campushub.config.sections import parse_size
from campushub.hub.layout import Layout
from campushub.reload import changed_sections, only_for_new_servers, restart_needed


def config(text: str = ""):
    return parse_config("name: Test\n" + text, "campus.yaml")


def layout(root: bool) -> Layout:
    return Layout(data_dir=Path("/srv/data"), environment=Path("/env"), proxy_command="chp", running_as_root=root)


def test_sizes_are_powers_of_1024():
    assert parse_size("512M") == 512 << 20
    assert parse_size("1.5G") == 3 << 29
    assert parse_size("2GiB") == 2 << 30
    assert parse_size(1000) == 1000


def test_a_start_is_admitted_only_with_the_memory_it_may_need(tmp_path):
    assert admission_problem(1 << 30, 2 << 30) is None
    assert admission_problem(0, 0) is None
    problem = admission_problem(1 << 30, 300 << 20)
    assert "300 MiB free, 1.0 GiB needed" in problem and "try again" in problem
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 100 kB\nMemAvailable:   2048 kB\n")
    assert memory_available(meminfo) == 2 << 20


def test_check_lists_every_kind_of_limit_and_fails_only_a_configured_one_it_cannot_enforce():
    support = CgroupSupport(
        usable={"memory": Hierarchy("memory", 1, Path("/m")), "cpu": Hierarchy("cpu", 1, Path("/c"))},
        problems={"pids": "no cgroup hierarchy on this machine has the `pids` controller"},
    )
    text = "compute:\n  memory_limit: 2G\n  process_limit: 100\n"
    probes = limit_probes(config(text), layout(True), support, "local")
    lines = {probe.name: probe.problem for probe in probes}
    assert lines["compute.memory_limit 2G (enforced with the cgroup v1 `memory` controller)"] is None
    assert lines["CPU limits (enforceable here with the cgroup v1 `cpu` controller)"] is None
    assert "cannot enforce it: no cgroup hierarchy" in lines["compute.process_limit"]
    as_user = limit_probes(config("compute:\n  cpu_limit: 1\n"), layout(False), support, "local")
    assert "need CampusHub to run as root" in next(p.problem for p in as_user if p.problem)


def test_a_reload_refuses_what_needs_a_full_restart_and_names_what_changes():
    running = config("compute:\n  idle_timeout: 1h\n")
    assert restart_needed(running, config("compute:\n  idle_timeout: 2h\n")) is None
    assert "data_dir changed" in restart_needed(running, config("data_dir: /elsewhere\n"))
    assert "database.url changed" in restart_needed(running, config("database:\n  url: postgresql://h/db\n"))
    changed = changed_sections(running, config("compute:\n  idle_timeout: 2h\n  memory_limit: 1G\n"))
    assert changed == ["compute.idle_timeout", "compute.memory_limit"]
    assert only_for_new_servers("compute.memory_limit", "local")
    assert only_for_new_servers("compute.local", "local")
    assert not only_for_new_servers("compute.idle_timeout", "local")
    assert only_for_new_servers("environments.directory", "local")
    assert not only_for_new_servers("environments.index_url", "local")  # the library takes it at the reload
