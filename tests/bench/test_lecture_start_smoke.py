"""`make bench` in miniature: two students against both hubs, so the benchmark cannot rot unnoticed.

It runs the real script as the operator would and checks what it writes, not how it measures:
bench/README.md says what the figures mean.
"""

from __future__ import annotations

import json
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cputree import FORKSERVER, HUB, KERNELS, PART_LABELS, PARTS, PROXY, SERVERS

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
SCRIPT = CHECKOUT / "bench" / "lecture_start.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def accounts_present(names: list[str]) -> list[str]:
    present = []
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        present.append(name)
    return present


def test_two_students_on_both_hubs_give_every_figure(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--users", "2", "--window", "2", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    written = sorted(path.name for path in tmp_path.iterdir())
    jsons, pngs = list(tmp_path.glob("*.json")), list(tmp_path.glob("*.png"))
    assert len(jsons) == 1 and len(pngs) == 1, written
    assert pngs[0].read_bytes().startswith(PNG_SIGNATURE)
    assert pngs[0].stem == jsons[0].stem

    document = json.loads(jsons[0].read_text())
    assert set(document["hubs"]) == {"campushub", "campushub-warmed", "stock"}
    for label, hub in document["hubs"].items():
        students = hub["students"]
        summary = hub["summary"]
        assert len(students) == 2, label
        assert hub["failures"] == [] and summary["failures"] == 0, (label, hub["failures"])
        assert all(student["ok"] and student["first_result_s"] > 0 for student in students), (label, students)
        assert summary["first_result_s"]["max"] >= summary["first_result_s"]["p50"] > 0, (label, summary)
        assert all(student["server_cpu_s"] > 0 and student["pss_mib"] > 0 for student in students), (label, students)
        assert summary["server_cpu_s"] > 0 and summary["machine_cpu_s_per_student"] > 0, (label, summary)
        assert summary["pss_mib"] > 0, (label, summary)
        # The split of the hub's CPU: every part the hub has is there, and the parts add up.
        split = summary["cpu_s_per_student_by_part"]
        parts = {part: split[part] for part in PARTS if split[part] is not None}
        assert parts[SERVERS] > 0 and parts[KERNELS] > 0 and parts[HUB] > 0 and parts[PROXY] >= 0, (label, split)
        assert (FORKSERVER in parts) == label.startswith("campushub"), (label, split)
        assert abs(sum(parts.values()) - split["hub_tree"]) <= 0.01, (label, split)
        assert split["hub_tree"] + split["rest_of_machine"] == pytest.approx(
            summary["machine_cpu_s_per_student"], abs=0.01
        ), (label, split, summary)
        assert hub["burst"]["hub_tree"]["error"] is None, (label, hub["burst"]["hub_tree"])
        assert summary["rtt_samples"] == 2 * 50, (label, summary)
        assert summary["rtt_ms"]["p95"] >= summary["rtt_ms"]["p50"] > 0, (label, summary)
    # Per-user limits: on by default wherever this machine can enforce them, and then enforced, not only written
    # down: every process of every student inside that student's cgroup. Stock JupyterHub cannot have them.
    assert document["hubs"]["stock"]["limits"]["on"] is False
    for label in ("campushub", "campushub-warmed"):
        limits, summary = document["hubs"][label]["limits"], document["hubs"][label]["summary"]
        assert summary["limits_on"] is limits["on"], (label, limits, summary)
        if limits["on"]:
            assert limits["values"] == document["plan"]["limits"], (label, limits)
            assert summary["servers_in_user_cgroups"] == 2, (label, summary)
            assert summary["processes_outside_user_cgroups"] == 0, (label, summary)
        else:
            assert limits["why"], (label, limits)
    ratios = document["ratios_campushub_over_stock"]
    assert ratios["first_result_s.p50"] > 0 and ratios["pss_mib"] > 0, ratios

    # The table reached the terminal, and nothing the run made outlived it.
    assert "CampusHub / stock" in result.stdout and "Per-user limits:" in result.stdout
    assert all(PART_LABELS[part] in result.stdout for part in (*PARTS, "rest_of_machine")), result.stdout
    assert accounts_present(["bc-s001", "bc-s002", "bs-s001", "bs-s002"]) == []
