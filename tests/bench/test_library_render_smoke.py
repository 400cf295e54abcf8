"""The library rendering benchmark in miniature: a 0.3 MB notebook and 2-second windows, so it cannot rot unnoticed.

It runs the real script as the operator would and checks what it prints and writes: every figure there
and positive, no failed request, the cached page faster than a render, and nothing left behind.
bench/README.md ("Library rendering") says what the figures mean.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import nbformat
import pytest

from bench.library_render import MB, make_notebook, png

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
SCRIPT = CHECKOUT / "bench" / "library_render.py"
SIZE_MB = 0.3


def server_processes() -> set[int]:
    """Processes whose command line is one of the benchmark's servers."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"library_render.py\0_serve-" in command:
                found.add(int(entry))
    return found


def test_a_small_notebook_gives_every_figure_and_leaves_nothing_behind(tmp_path: Path):
    out, temporary = tmp_path / "library_render.json", tmp_path / "tmp"
    temporary.mkdir()
    servers_before = server_processes()
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--size-mb", str(SIZE_MB), "--seconds", "2", "--clients", "2"),
            *("--cold-runs", "1", "--warm-runs", "1", "--cached-runs", "3", "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # The table reached the terminal, and says that CampusHub's first view renders and caches.
    for row in ("fresh process: whole process", "cached page (RenderCache read)", "MB notebook page: views/s"):
        assert row in result.stdout, result.stdout
    assert "renders it and stores it in the cache" in result.stdout, result.stdout

    document = json.loads(out.read_text())
    notebook = document["notebook"]
    assert SIZE_MB * MB <= notebook["bytes"] <= 1.3 * SIZE_MB * MB, notebook
    assert notebook["png_outputs"] > 0 and notebook["html_table_outputs"] > 0, notebook

    render = document["render"]
    campushub, stock = render["campushub"], render["stock"]
    for who in (campushub, stock):
        assert all(value > 0 for value in who["cold"].values()), who
        assert who["warm_render_s"] > 0 and who["html_bytes"] > 0, who
    cached = campushub["cached"]
    assert all(value > 0 for value in cached.values()), cached
    # The cache is what makes a view cheap: reading it beats rendering, cold or warm.
    assert cached["median_s"] < campushub["warm_render_s"] < campushub["cold"]["first_render_s"], render
    assert cached["first_in_fresh_process_s"] < campushub["cold"]["first_render_s"], render

    # Both pages show the whole notebook, so the two are compared on the same content.
    contents = document["page_contents"]
    for who in ("campushub", "stock"):
        assert contents[who]["png_images"] == notebook["png_outputs"], contents
        assert contents[who]["html_tables"] == notebook["html_table_outputs"], contents
        assert contents[who]["cells_cut"] is False, contents

    pages = document["page_views"]
    assert set(pages["campushub"]) == {"notebook", "small", "small_notebook"}, pages["campushub"].keys()
    assert set(pages["stock"]) == {"notebook", "small"}, pages["stock"].keys()
    for who in ("campushub", "stock"):
        assert all(seconds > 0 for seconds in pages["first_view_s"][who].values()), pages["first_view_s"]
        assert set(pages["first_view_s"][who]) == set(pages[who]), pages["first_view_s"]
        for page, figures in pages[who].items():
            label = (who, page, figures)
            assert figures["errors"] == 0 and figures["statuses"] == {"200": figures["ok"]}, label
            assert figures["ok"] >= 2 and figures["requests"] == figures["ok"], label
            assert figures["requests_per_s"] > 0 and figures["bytes_per_page"] > 0, label
            assert figures["latency_ms"]["max"] >= figures["latency_ms"]["p95"] >= figures["latency_ms"]["p50"] > 0
            assert figures["server_cpu_ms_per_request"] > 0, label
    # A cached page is served faster than nbconvert converts the same notebook.
    assert pages["campushub"]["notebook"]["requests_per_s"] > pages["stock"]["notebook"]["requests_per_s"], pages

    # Nothing the run made outlived it: no temporary folder, no server.
    assert list(temporary.iterdir()) == []
    assert server_processes() - servers_before == set()


def test_the_notebook_is_the_same_every_time_and_valid():
    made = make_notebook(64 * 1024)
    assert make_notebook(64 * 1024).text == made.text
    assert make_notebook(64 * 1024, seed=1).text != made.text
    notebook = nbformat.reads(made.text, as_version=4)
    nbformat.validate(notebook)
    kinds = {output.output_type for cell in notebook.cells for output in cell.get("outputs", [])}
    assert kinds == {"stream", "execute_result", "display_data"}, kinds


def test_the_figures_are_real_pngs():
    data = png(48, 40, random.Random(1), 8)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    position, kinds = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        kinds.append(kind)
        if kind == b"IDAT":
            raw = zlib.decompress(body)
            assert len(raw) == 40 * (1 + 48 * 3)  # each row: filter byte, then RGB
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
