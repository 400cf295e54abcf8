"""The environment benchmark in miniature (3 students, one small package), so that it cannot rot unnoticed.

It runs the real script as an operator would and checks what it writes: every figure there, one build
for the whole class on CampusHub's side against one install per student on the stock side, and nothing
left behind (no work folder, no build account it made). bench/README.md ("Environments") says what the
figures mean.
"""

from __future__ import annotations

import json
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
SCRIPT = CHECKOUT / "bench" / "environment_builds.py"


def test_three_students_give_every_figure_and_one_build_serves_them_all(tmp_path: Path) -> None:
    before = set(Path("/var/tmp").glob("bench-environments-*"))
    out = tmp_path / "figures.json"
    arguments = ["--students", "3", "--packages", "2", "--size-kb", "64", "--window", "1", "--out", str(out)]
    result = subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "first student waits (s)" in result.stdout and "stock (pip --user)" in result.stdout
    figures = json.loads(out.read_text())
    for side in ("campushub", "stock"):
        for key in ("first_s", "median_s", "p95_s", "max_s", "cpu_s", "index_bytes", "disk"):
            assert figures[side][key] > 0, (side, key, figures[side])
    assert figures["campushub"]["states"] == ["ready"]
    # Two packages of 64 KB: fetched once for the class, against once per student.
    assert figures["stock"]["index_bytes"] >= 3 * figures["campushub"]["index_bytes"] * 0.99
    assert set(Path("/var/tmp").glob("bench-environments-*")) == before, "the work folder is removed"
    with pytest.raises(KeyError):
        pwd.getpwnam("chbench-build")
