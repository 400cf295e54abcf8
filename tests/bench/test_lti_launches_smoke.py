"""The LTI launch benchmark in miniature (3 students against both hubs), so that it cannot rot unnoticed.

It runs the real script as an operator would and checks what it writes: every figure of the table there and
sane, every launch signed in on both hubs, one JWKS fetch for CampusHub's whole class against one per launch for
stock ltiauthenticator, and nothing left behind (no temporary hub directory, no student account). bench/README.md
("LTI launches") says what the figures mean.
"""

from __future__ import annotations

import json
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
SCRIPT = CHECKOUT / "bench" / "lti_launches.py"
STUDENTS = 3
ROWS = (
    "launches completed",
    "launches failed",
    "click to signed in, median (s)",
    "click to signed in, p95 (s)",
    "slowest launch (s)",
    "JWKS fetches during the burst",
    "hub CPU during the burst (s)",
)


def leftovers() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("bench-lti-*"))


def test_three_students_launch_on_both_hubs_and_every_figure_is_there(tmp_path: Path) -> None:
    before = leftovers()
    arguments = ["--students", str(STUDENTS), "--window", "1", "--jwks-delay-ms", "50", "--out", str(tmp_path)]
    result = subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr

    # The parameters and the table, a row per figure with both hubs and the ratio.
    assert f"{STUDENTS} students launching from the LMS over 1 s" in result.stdout, result.stdout
    assert "answers its JWKS after 50 ms" in result.stdout, result.stdout
    table = result.stdout.split("CampusHub / stock", 1)[1]
    for row in ROWS:
        line = next((line for line in table.splitlines() if line.startswith(row)), None)
        assert line is not None, (row, result.stdout)
        cells = line[len(row) :].split()
        assert len(cells) == 3, (row, line)  # CampusHub, stock, ratio

    jsons = list(tmp_path.glob("lti-launches-*.json"))
    assert len(jsons) == 1, sorted(path.name for path in tmp_path.iterdir())
    document = json.loads(jsons[0].read_text())
    assert document["parameters"]["students"] == STUDENTS and document["parameters"]["jwks_delay_ms"] == 50
    assert set(document["hubs"]) == {"campushub", "stock"}
    assert document["id_tokens_issued"] == 2 * STUDENTS
    for label, hub in document["hubs"].items():
        summary = hub["summary"]
        assert summary["completed"] == STUDENTS and summary["failed"] == 0, (label, hub["launches"])
        times = summary["signed_in_s"]
        assert 0 < times["p50"] <= times["p95"] <= times["max"] < 60, (label, times)
        assert all(launch["failure"] is None for launch in hub["launches"]), (label, hub["launches"])
        for launch in hub["launches"]:
            steps = launch["steps_s"]
            assert 0 < steps["initiation"] < steps["platform"] < steps["launch"] == launch["signed_in_s"], launch
        assert summary["hub_cpu_s"] > 0 and hub["hub_tree"]["error"] is None, (label, hub["hub_tree"])
        assert (tmp_path / hub["log"]["file"]).is_file(), (label, hub["log"])
    # The point of the comparison: CampusHub fetches the platform's keys once, stock ltiauthenticator per launch.
    assert document["hubs"]["campushub"]["summary"]["jwks_fetches"] == 1, document["hubs"]["campushub"]
    assert document["hubs"]["stock"]["summary"]["jwks_fetches"] == STUDENTS, document["hubs"]["stock"]
    # And nothing is left: the hubs' directories, and the accounts CampusHub made for the students as root.
    assert leftovers() <= before, leftovers() - before
    for n in range(1, STUDENTS + 1):
        with pytest.raises(KeyError):
            pwd.getpwnam(f"bl-s{n:03d}")
