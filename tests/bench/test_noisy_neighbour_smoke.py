"""The noisy-neighbour benchmark in miniature: 3-second windows, so it cannot rot unnoticed.

It runs the real script as the operator would and checks what it prints and writes, and the one
promise the figures must keep whatever the machine: under `compute.cpu_limit` alice's processes
use no more than the limit (with the slack CFS quota accounting has). bench/README.md ("Noisy neighbour")
says what the figures mean.
"""

from __future__ import annotations

import json
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from bench.noisy_neighbour import LIMITED_CORES_TOLERANCE, PREFIX

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
SCRIPT = CHECKOUT / "bench" / "noisy_neighbour.py"
CPU_LIMIT = 0.5
SCENARIOS = ("idle", "alice burns, no limit", f"alice burns, cpu_limit={CPU_LIMIT:g}")


def accounts_present(names: list[str]) -> list[str]:
    present = []
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        present.append(name)
    return present


def test_three_second_windows_give_the_table_and_hold_alice_to_the_limit(tmp_path: Path):
    out = tmp_path / "noisy_neighbour.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", "3", "--cpu-limit", str(CPU_LIMIT), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # The table reached the terminal with a row per scenario.
    rows = {line.split("  ")[0].strip(): line for line in result.stdout.splitlines()}
    assert all(scenario in rows for scenario in SCENARIOS), result.stdout

    document = json.loads(out.read_text())
    scenarios = document["scenarios"]
    assert tuple(scenarios) == SCENARIOS, scenarios
    for title, summary in scenarios.items():
        assert summary["failures"] == 0 and summary["round_trips"] > 0, (title, summary)
        assert summary["rtt_ms"]["max"] >= summary["rtt_ms"]["p95"] >= summary["rtt_ms"]["p50"] > 0, (title, summary)

    # The two hubs differ in cpu_limit alone: the first ran with no limit at all, its users in the hub's own cgroup.
    assert document["limits_in_campus_yaml"] == {
        "no-limit": {"memory_limit": None, "cpu_limit": None, "process_limit": None},
        "cpu-limit": {"memory_limit": None, "cpu_limit": CPU_LIMIT, "process_limit": None},
    }, document["limits_in_campus_yaml"]
    idle, unlimited, limited = (scenarios[title] for title in SCENARIOS)
    assert unlimited["cgroups"]["alice"] is None and unlimited["cgroups"]["bob"] is None, unlimited["cgroups"]
    assert idle["alice_cores"] < 0.2, idle
    assert unlimited["alice_cores"] > 0, unlimited
    assert 0 < limited["alice_cores"] <= CPU_LIMIT * LIMITED_CORES_TOLERANCE, limited
    group = limited["cgroups"]["alice"]
    assert group is not None and group["group"].endswith("/users/alice"), group
    assert group["throttled_periods"] > 0, group

    # The alice cores column of the limited row says the same.
    assert float(rows[SCENARIOS[2]].split()[-1]) <= CPU_LIMIT * LIMITED_CORES_TOLERANCE, rows[SCENARIOS[2]]
    # Nothing the run made outlived it.
    assert accounts_present([f"{PREFIX}alice", f"{PREFIX}bob"]) == []
