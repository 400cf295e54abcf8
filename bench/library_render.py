"""Library rendering: a large notebook's page cold and cached, and anonymous page views, against plain nbconvert.

Run from the checkout (`.venv/bin/python bench/library_render.py`); no root, no network, nothing installed.
The question is what a visitor of CampusHub's public library waits for, and how many visitors one
library process serves, compared with rendering every view the way nbviewer does: nbformat and
nbconvert's `lab` template, with no cache in front.

1. A notebook of about `--size-mb` MB is made, always the same for the same options (fixed seed): the
   sections of an analysis, each a markdown cell, a training loop's printed log, a pandas-style HTML table
   and a real PNG figure, in the proportions of notebooks that are large because of their plots.
2. Renders, each cold run in a fresh Python process so that imports and template loading count as they do
   for a service's first visitor: `campushub.library.render.render_file` (cold, then warm in the same
   process), its cached page (`RenderCache.rendered` once the rendering is stored: reading the cache
   file), and `nbconvert.HTMLExporter(template_name="lab")` on `nbformat.reads` (cold, then warm).
3. Page views: two servers on loopback ports, started as processes of their own, one after the other:
   the real library application over a temporary data directory and SQLite database with the notebook
   published as a public project, and a small tornado server that converts the notebook with nbconvert on
   every request. `--clients` clients each request one page after another for `--seconds`; figures for
   the large notebook's page, for a small page, and for a small notebook's page.

The table goes to the terminal and every figure to `--out` (bench/results/library_render.json);
bench/README.md ("Library rendering") says what each figure means.

Exit status: 0 when the benchmark completed (failed requests are results, and reported), 1 when it
could not run or was interrupted (with the reason in one paragraph).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

# Run as a script, this file's directory is on sys.path, not the checkout that holds the `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import errors, procfs, report
from bench.interrupts import Interrupted, Signals
from bench.ports import HOST, free_port
from bench.summary import percentile

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "results" / "library_render.json"
SEED = 20240917
MB = 1024 * 1024
# The library renders files up to `library.max_render_size` (20 MB by default) and offers larger ones as downloads.
MAX_SIZE_MB = 19.0
SMALL_SIZE_BYTES = 24 * 1024  # the small notebook: a few sections with small figures
OWNER, SLUG = "bench", "render-bench"
NOTEBOOK, SMALL_NOTEBOOK = "analysis.ipynb", "small.ipynb"
PREFIX, HUB_PREFIX = "/services/library/", "/hub/"
SERVER_START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
RENDER_TIMEOUT_S = 600.0
# A figure on a page; nbconvert's lab template also has data: PNGs in its CSS, which are not figures.
INLINE_PNG = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,')

# -- the notebook ------------------------------------------------------------------------------------------

VOCABULARY = (
    "the model data set we each sample mean error rate fit of a curve predicted observed students lecture "
    "variance bias training test split feature column row value estimate regression linear logistic "
    "gradient step loss accuracy plot figure table below above shows how when with from per week result "
    "noise signal trend season average median outlier missing cleaned grouped by year region count"
)
WORDS = VOCABULARY.split()
COLUMNS = ("region", "year", "students", "mean_grade", "std_grade", "pass_rate", "median_age", "share_online")
REGIONS = ("North", "South", "East", "West", "Centre", "Coast", "Valley", "Hills")
PANDAS_STYLE = """<style scoped>
    .dataframe tbody tr th:only-of-type {
        vertical-align: middle;
    }

    .dataframe tbody tr th {
        vertical-align: top;
    }

    .dataframe thead th {
        text-align: right;
    }
</style>
"""


def png(width: int, height: int, rng: random.Random, noise_pixels: int) -> bytes:
    """A real PNG (8-bit RGB, valid CRCs): axes and a noisy band along a sine curve on white.

    About `noise_pixels` pixels per row are random, which deflate cannot shrink: a rendered scatter or
    histogram compresses about as badly, so the file is about as large as a plot of its size.
    """
    white = b"\xff" * (width * 3)
    left, bottom = 40, height - 30
    phase, period = rng.random() * math.tau, rng.uniform(0.5, 2.0)
    raw = bytearray()
    for y in range(height):
        row = bytearray(white)
        if 10 <= y < bottom:
            row[left * 3 : left * 3 + 3] = b"\x00\x00\x00"
            wave = 0.5 + 0.5 * math.sin(phase + y / height * period * math.tau)
            centre = left + 10 + int((width - left - 20 - noise_pixels) * wave)
            start = max(left + 1, min(centre, width - noise_pixels)) * 3
            row[start : start + noise_pixels * 3] = rng.randbytes(noise_pixels * 3)
        elif y == bottom:
            row[left * 3 :] = b"\x00" * ((width - left) * 3)
        raw += b"\x00" + row  # filter type 0 (none) before each row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 6))
        + chunk(b"IEND", b"")
    )


def lines(text: str) -> list[str]:
    """nbformat's multiline strings as it writes them: a list of lines, each with its newline but the last."""
    return text.splitlines(keepends=True)


def sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def markdown_cell(rng: random.Random, index: int) -> dict:
    title = " ".join(rng.choice(WORDS) for _ in range(3)).capitalize()
    paragraph = " ".join(sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(3, 5)))
    words = paragraph.split(" ")
    words[2] = f"**{words[2]}**"
    words[5] = f"`{words[5]}`"
    words[-3] = f"[{words[-3]}](https://example.org/notes/{index})"
    bullets = "\n".join(f"- {sentence(rng, rng.randint(4, 9))}" for _ in range(rng.randint(2, 4)))
    formula = "\n\n$$\\hat\\beta = (X^T X)^{-1} X^T y$$" if index % 3 == 0 else ""
    text = f"## {index}. {title}\n\n{' '.join(words)}\n\n{bullets}{formula}"
    return {"cell_type": "markdown", "metadata": {}, "source": lines(text)}


def code_cell(source: str, outputs: list[dict], count: int) -> dict:
    return {"cell_type": "code", "execution_count": count, "metadata": {}, "outputs": outputs, "source": lines(source)}


def stream_cell(rng: random.Random, count: int) -> dict:
    epochs, rate = rng.randint(8, 16), rng.choice((0.1, 0.03, 0.01, 0.003))
    source = (
        f"model = make_model(hidden={rng.choice((16, 32, 64))}, seed={count})\n"
        f"for epoch in range(1, {epochs} + 1):\n"
        f"    loss = train_one_epoch(model, loader, lr={rate})\n"
        '    print(f"epoch {epoch:2d}/' + str(epochs) + '  loss={loss:.4f}  accuracy={accuracy(model, test):.3f}")'
    )
    loss, text = rng.uniform(1.5, 2.5), []
    for epoch in range(1, epochs + 1):
        loss *= rng.uniform(0.7, 0.95)
        text.append(f"epoch {epoch:2d}/{epochs}  loss={loss:.4f}  accuracy={1 - loss / 3:.3f}\n")
    return code_cell(source, [{"name": "stdout", "output_type": "stream", "text": text}], count)


def table_cell(rng: random.Random, count: int) -> dict:
    """`df.head(12)` as pandas shows it: text/plain and the HTML table with pandas' scoped style."""
    rows = []
    for _ in range(12):
        rows.append(
            [
                rng.choice(REGIONS),
                str(rng.randint(2015, 2024)),
                str(rng.randint(40, 900)),
                f"{rng.uniform(2, 5.5):.3f}",
                f"{rng.uniform(0.3, 1.4):.3f}",
                f"{rng.random():.3f}",
                f"{rng.uniform(18, 31):.1f}",
                f"{rng.random():.4f}",
            ]
        )
    head = "".join(f"      <th>{name}</th>\n" for name in COLUMNS)
    body = "".join(
        "    <tr>\n      <th>{}</th>\n{}    </tr>\n".format(
            number, "".join(f"      <td>{value}</td>\n" for value in row)
        )
        for number, row in enumerate(rows)
    )
    table = (
        f'<div>\n{PANDAS_STYLE}<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n'
        f"      <th></th>\n{head}    </tr>\n  </thead>\n  <tbody>\n{body}  </tbody>\n</table>\n</div>"
    )
    plain = "    " + "  ".join(COLUMNS) + "\n" + "\n".join(f"{n:<3} " + "  ".join(row) for n, row in enumerate(rows))
    source = (
        f'df = pd.read_csv("data/cohort_{count}.csv")\ndf["pass_rate"] = df["passed"] / df["students"]\ndf.head(12)'
    )
    output = {
        "data": {"text/html": lines(table), "text/plain": lines(plain)},
        "execution_count": count,
        "metadata": {},
        "output_type": "execute_result",
    }
    return code_cell(source, [output], count)


def figure_cell(rng: random.Random, count: int, noise_pixels: int) -> dict:
    width, height = 480, 320
    image = base64.b64encode(png(width, height, rng, noise_pixels)).decode() + "\n"
    source = (
        "fig, ax = plt.subplots(figsize=(4.8, 3.2))\n"
        f'ax.scatter(df["mean_grade"], df["pass_rate"], s=4, alpha=0.{rng.randint(2, 8)})\n'
        f'ax.set_title("Week {count}: pass rate by mean grade")\n'
        "plt.show()"
    )
    output = {
        "data": {"image/png": image, "text/plain": ["<Figure size 480x320 with 1 Axes>"]},
        "metadata": {},
        "output_type": "display_data",
    }
    return code_cell(source, [output], count)


@dataclass
class MadeNotebook:
    text: str
    cells: int
    markdown_cells: int
    code_cells: int
    images: int
    tables: int

    def summary(self) -> dict:
        return {
            "bytes": len(self.text.encode()),
            "cells": self.cells,
            "markdown_cells": self.markdown_cells,
            "code_cells": self.code_cells,
            "png_outputs": self.images,
            "html_table_outputs": self.tables,
        }


def make_notebook(size_bytes: int, seed: int = SEED, noise_pixels: tuple[int, int] = (20, 60)) -> MadeNotebook:
    """About `size_bytes` of .ipynb JSON, as nbformat writes it; the same bytes for the same arguments.

    Sections (markdown, printed log, table, figure) are added until the size is reached; figures make up
    about three quarters of the bytes, as in notebooks that are large because of their plots.
    """
    rng = random.Random(seed)
    cells: list[dict] = []
    size, count, images, tables = 0, 0, 0, 0
    while size < size_bytes or not cells:
        section = [markdown_cell(rng, len(cells) // 4 + 1)]
        count += 1
        section.append(stream_cell(rng, count))
        count += 1
        section.append(table_cell(rng, count))
        count += 1
        section.append(figure_cell(rng, count, rng.randint(*noise_pixels)))
        images, tables = images + 1, tables + 1
        cells.extend(section)
        size += len(json.dumps({"cells": section}, indent=1, ensure_ascii=False).encode())  # as deep as in the file
    for number, cell in enumerate(cells):
        cell["id"] = f"cell-{number:04d}"
    document = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {
                "codemirror_mode": {"name": "ipython", "version": 3},
                "file_extension": ".py",
                "mimetype": "text/x-python",
                "name": "python",
                "nbconvert_exporter": "python",
                "pygments_lexer": "ipython3",
                "version": "3.12.3",
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    text = json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False) + "\n"  # nbformat.writes' layout
    markdown = sum(cell["cell_type"] == "markdown" for cell in cells)
    return MadeNotebook(text, len(cells), markdown, len(cells) - markdown, images, tables)


# -- renders, each cold run in a fresh process -------------------------------------------------------------------

# What a child prints: one JSON line. Only the modules under test are imported before the clock starts; the
# notebook's file is read inside the first render, as a service reads it for its first visitor.
CAMPUSHUB_RENDER = """
import time
started = time.perf_counter()
from campushub.library.render import render_file
from campushub.library.cache import RenderCache
imported = time.perf_counter()
import json, sys
from pathlib import Path
notebook, name, image_url, warm_runs, cache_root, owner, slug = sys.argv[1:8]
rendered = render_file(name, Path(notebook).read_bytes(), image_url=image_url)
first = time.perf_counter()
warm = []
for _ in range(int(warm_runs)):
    begun = time.perf_counter()
    render_file(name, Path(notebook).read_bytes(), image_url=image_url)
    warm.append(time.perf_counter() - begun)
if cache_root:
    RenderCache(Path(cache_root)).rendered(owner, slug, 1, name, lambda: rendered, variant=image_url)
print(json.dumps({"import_s": imported - started, "render_s": first - imported, "warm_s": warm,
                  "html_bytes": len(rendered.body.encode()), "body": rendered.body if cache_root else ""}))
"""

CAMPUSHUB_CACHED = """
import time
started = time.perf_counter()
from campushub.library.cache import RenderCache
imported = time.perf_counter()
import json, sys
from pathlib import Path
name, image_url, runs, cache_root, owner, slug = sys.argv[1:7]
def not_cached():
    raise SystemExit("the rendering is not in the cache")
cache = RenderCache(Path(cache_root))
page = cache.rendered(owner, slug, 1, name, not_cached, variant=image_url)
first = time.perf_counter()
times = []
for _ in range(int(runs)):
    begun = time.perf_counter()
    cache.rendered(owner, slug, 1, name, not_cached, variant=image_url)
    times.append(time.perf_counter() - begun)
print(json.dumps({"import_s": imported - started, "render_s": first - imported, "warm_s": times,
                  "html_bytes": len(page.body.encode()), "body": ""}))
"""

STOCK_RENDER = """
import time
started = time.perf_counter()
import nbformat
from nbconvert import HTMLExporter
imported = time.perf_counter()
import json, sys
from pathlib import Path
notebook, warm_runs, keep = sys.argv[1:4]
exporter = HTMLExporter(template_name="lab")
body, _ = exporter.from_notebook_node(nbformat.reads(Path(notebook).read_text(encoding="utf-8"), as_version=4))
first = time.perf_counter()
warm = []
for _ in range(int(warm_runs)):
    begun = time.perf_counter()
    exporter.from_notebook_node(nbformat.reads(Path(notebook).read_text(encoding="utf-8"), as_version=4))
    warm.append(time.perf_counter() - begun)
print(json.dumps({"import_s": imported - started, "render_s": first - imported, "warm_s": warm,
                  "html_bytes": len(body.encode()), "body": body if keep == "1" else ""}))
"""


@dataclass
class ChildRun:
    process_s: float  # the whole process, as the parent saw it: interpreter start, imports, render, exit
    import_s: float
    render_s: float
    warm_s: list[float]
    html_bytes: int
    body: str


def run_child(code: str, args: Sequence[str], what: str) -> ChildRun:
    """One fresh Python process running `code`; BenchError with its output when it fails."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=RENDER_TIMEOUT_S,
        cwd=REPO,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise errors.BenchError(
            f"{what} failed in its own process (exit status {result.returncode}): {tail(result.stderr)}"
        )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return ChildRun(
        elapsed, figures["import_s"], figures["render_s"], figures["warm_s"], figures["html_bytes"], figures["body"]
    )


def tail(text: str, lines_kept: int = 8) -> str:
    return " | ".join(text.strip().splitlines()[-lines_kept:]) or "(no output)"


def warm_up() -> None:
    """Read every package once, so the first cold run does not pay alone for a cold page cache."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import nbformat, nbconvert, tornado, campushub.library.service; "
            "from nbconvert import HTMLExporter; HTMLExporter(template_name='lab')",
        ],
        capture_output=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def cold_summary(runs: list[ChildRun]) -> dict:
    """Medians over the fresh processes."""
    return {
        "runs": len(runs),
        "process_s": rounded(median(run.process_s for run in runs)),
        "import_s": rounded(median(run.import_s for run in runs)),
        "first_render_s": rounded(median(run.render_s for run in runs)),
        "import_plus_render_s": rounded(median(run.import_s + run.render_s for run in runs)),
    }


def measure_renders(plan: Plan, work: Path, notebook: Path, stop: threading.Event) -> tuple[dict, dict]:
    """Cold and warm renders of both, alternating so background load falls on both alike; then the cached page.

    Returns the figures and the two pages' HTML (the first run's), to say what each page holds.
    """
    image_url = f"{PREFIX}p/{OWNER}/{SLUG}/v/1/raw/{NOTEBOOK}"
    cache_root = work / "render-cache"
    campushub: list[ChildRun] = []
    stock: list[ChildRun] = []
    for number in range(plan.cold_runs):
        if stop.is_set():
            raise Interrupted("stopped")
        warm_runs = str(plan.warm_runs if number == 0 else 0)
        first = number == 0
        print(f"  render {number + 1}/{plan.cold_runs}: CampusHub render_file in a fresh process ...", flush=True)
        campushub.append(
            run_child(
                CAMPUSHUB_RENDER,
                [str(notebook), NOTEBOOK, image_url, warm_runs, str(cache_root) if first else "", OWNER, SLUG],
                "CampusHub's render_file",
            )
        )
        print(
            f"  render {number + 1}/{plan.cold_runs}: nbconvert HTMLExporter (lab) in a fresh process ...", flush=True
        )
        stock.append(
            run_child(STOCK_RENDER, [str(notebook), warm_runs, "1" if first else "0"], "nbconvert's HTMLExporter")
        )
    print(f"  cached page: RenderCache.rendered in a fresh process, then {plan.cached_runs} more ...", flush=True)
    cached = run_child(
        CAMPUSHUB_CACHED,
        [NOTEBOOK, image_url, str(plan.cached_runs), str(cache_root), OWNER, SLUG],
        "CampusHub's RenderCache",
    )
    figures = {
        "campushub": {
            "cold": cold_summary(campushub),
            "warm_render_s": rounded(median(campushub[0].warm_s)) if campushub[0].warm_s else None,
            "cached": {
                "runs": len(cached.warm_s),
                "median_s": rounded(median(cached.warm_s), 5),
                "first_in_fresh_process_s": rounded(cached.render_s, 5),
                "fresh_process_import_s": rounded(cached.import_s),
                "fresh_process_s": rounded(cached.process_s),
            },
            "html_bytes": campushub[0].html_bytes,
        },
        "stock": {
            "cold": cold_summary(stock),
            "warm_render_s": rounded(median(stock[0].warm_s)) if stock[0].warm_s else None,
            "html_bytes": stock[0].html_bytes,
        },
    }
    return figures, {"campushub": campushub[0].body, "stock": stock[0].body}


def page_contents(bodies: dict[str, str], made: MadeNotebook) -> dict:
    """What each page shows of the notebook: a renderer that shows less would be faster for that alone."""
    contents = {}
    for who, body in bodies.items():
        contents[who] = {
            "png_images": len(INLINE_PNG.findall(body)),
            "html_tables": body.count('class="dataframe"'),
            "cells_cut": "more cells are not shown" in body,
        }
    contents["notebook"] = {"png_images": made.images, "html_tables": made.tables}
    return contents


# -- servers -----------------------------------------------------------------------------------------------------


def hub_environment(port: int) -> dict[str, str]:
    """What JupyterHub gives a service, so HubOAuth starts; the hub's API is never asked about anonymous visitors."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTERHUB_")}
    environment.update(
        {
            "JUPYTERHUB_API_TOKEN": secrets.token_hex(16),
            "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
            "JUPYTERHUB_CLIENT_ID": "service-library",
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
            "JUPYTERHUB_SERVICE_URL": f"http://{HOST}:{port}",
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{PREFIX}oauth_callback",
            "JUPYTERHUB_HOST": "",
        }
    )
    return environment


def serve_campushub(data_dir: str, port: str) -> None:
    """The library's own application, as `campushub.library.service.main` serves it, over a benchmark's data dir."""
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    from campushub.config.schema import CampusConfig
    from campushub.library.cache import RenderCache
    from campushub.library.service import application
    from campushub.library.store import LibraryStore

    data = Path(data_dir)
    config = CampusConfig.model_validate({"data_dir": str(data)})
    store = LibraryStore(f"sqlite:///{data / 'hub.sqlite'}", data / "library")
    cache = RenderCache(data / "cache" / "library")
    server = HTTPServer(application(config, store, PREFIX, HUB_PREFIX, cache), xheaders=True)
    server.listen(int(port), HOST)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    IOLoop.current().start()


def serve_stock(root: str, port: str) -> None:
    """nbviewer's way without its cache: every view reads the notebook and converts it with nbconvert's lab template.

    As in nbviewer, the conversion runs off the event loop (here in tornado's default thread pool, as the
    library does) with one exporter per thread, made on the thread's first page.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from tornado import web
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    folder = Path(root)
    local = threading.local()

    def convert(path: Path) -> str:
        exporter = getattr(local, "exporter", None)
        if exporter is None:
            exporter = local.exporter = HTMLExporter(template_name="lab")
        body, _ = exporter.from_notebook_node(nbformat.reads(path.read_text(encoding="utf-8"), as_version=4))
        return body

    class NotebookHandler(web.RequestHandler):
        async def get(self, name: str) -> None:
            path = folder / name
            if "/" in name or not path.is_file():
                raise web.HTTPError(404)
            body = await IOLoop.current().run_in_executor(None, convert, path)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(body)

    server = HTTPServer(web.Application([(r"/notebooks/([^/]+\.ipynb)", NotebookHandler)]))
    server.listen(int(port), HOST)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    IOLoop.current().start()


@dataclass
class Server:
    """A server of the benchmark, in a process group of its own, its output in a log file."""

    title: str
    port: int
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self, mode: str, argument: str, environment: dict[str, str] | None = None) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), mode, argument, str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env=environment,
                start_new_session=True,  # Ctrl-C reaches the benchmark only; it stops the server itself
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise errors.BenchError(f"{self.title} exited at start: {tail(self.log_text())}")
            if b"ready" in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise errors.BenchError(f"{self.title} did not start in {SERVER_START_TIMEOUT_S:g} s: {tail(self.log_text())}")

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def cpu_s(self) -> float:
        """utime + stime of the server process (all its threads) so far."""
        process = procfs.read_process(self.process.pid) if self.process else None
        return process.cpu_ticks / procfs.CLOCK_TICKS if process else 0.0

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


# -- load ---------------------------------------------------------------------------------------------------------


@dataclass
class ClientLog:
    latencies_s: list[float] = field(default_factory=list)  # every answered request, whatever its status
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # no answer at all: a connection error or a timeout
    body_bytes: int = 0


def fetch(port: int, path: str, timeout_s: float) -> tuple[int, bytes, float]:
    """One GET on a new connection: (status, body, seconds)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        begun = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        return response.status, body, time.perf_counter() - begun
    finally:
        connection.close()


def client(port: int, path: str, deadline: float, timeout_s: float, stop: threading.Event, log: ClientLog) -> None:
    """Requests one after another on a kept-alive connection, as a browser tab reloading, until the deadline."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        while time.monotonic() < deadline and not stop.is_set():
            begun = time.perf_counter()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as problem:
                log.failures.append(f"{type(problem).__name__}: {problem}"[:200])
                stop.wait(0.05)  # a server that refuses connections must not be hammered in a tight loop
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
                continue
            log.latencies_s.append(time.perf_counter() - begun)
            log.statuses[response.status] += 1
            log.body_bytes += len(body)
            if response.will_close:
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    finally:
        connection.close()


def measure_load(server: Server, path: str, plan: Plan, stop: threading.Event) -> dict:
    """`plan.clients` clients for `plan.seconds`; every request begun before the end is waited for and counted.

    Requests per second are those requests over the time until the last of them was answered, so a page
    slower than the window still gets a figure (each client's first request) instead of none.
    """
    logs = [ClientLog() for _ in range(plan.clients)]
    cpu_before, busy_before = server.cpu_s(), procfs.machine_busy_ticks()[0]
    started = time.monotonic()
    deadline = started + plan.seconds
    threads = [
        threading.Thread(target=client, args=(server.port, path, deadline, plan.timeout_s, stop, log), daemon=True)
        for log in logs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
    if stop.is_set():
        raise Interrupted("stopped")
    elapsed = time.monotonic() - started
    cpu_used = server.cpu_s() - cpu_before
    busy_cores = (procfs.machine_busy_ticks()[0] - busy_before) / procfs.CLOCK_TICKS / elapsed
    latencies = [value for log in logs for value in log.latencies_s]
    statuses: Counter = sum((log.statuses for log in logs), Counter())
    failures = [failure for log in logs for failure in log.failures]
    answered = len(latencies)
    ok = statuses.get(200, 0)
    return {
        "path": path,
        "clients": plan.clients,
        "seconds": round(elapsed, 2),
        "requests": answered + len(failures),
        "ok": ok,
        "errors": answered - ok + len(failures),
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "failures": failures[:5],
        "requests_per_s": round(ok / elapsed, 3) if elapsed > 0 else None,
        "latency_ms": {
            "p50": rounded(_ms(percentile(latencies, 50)), 2),
            "p95": rounded(_ms(percentile(latencies, 95)), 2),
            "max": rounded(_ms(max(latencies) if latencies else None), 2),
        },
        "bytes_per_page": round(sum(log.body_bytes for log in logs) / answered) if answered else None,
        "server_cpu_ms_per_request": rounded(cpu_used * 1000 / ok, 2) if ok else None,
        "machine_busy_cores": round(busy_cores, 2),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def first_view(server: Server, path: str, timeout_s: float) -> float:
    """The page's first view (the warm-up request): its seconds, or BenchError unless it is a 200."""
    try:
        status, body, seconds = fetch(server.port, path, timeout_s)
    except (OSError, http.client.HTTPException) as problem:
        raise errors.BenchError(f"{server.title}: {path} could not be fetched ({problem}).") from None
    if status != 200:
        raise errors.BenchError(
            f"{server.title} answered {path} with {status}, not 200: {body[:300]!r}. Its log: {tail(server.log_text())}"
        )
    return seconds


def publish(data_dir: Path, folder: Path) -> None:
    """The notebooks as version 1 of a public project, with the library's own store (and its migrations)."""
    from campushub.library.store import LibraryStore, Metadata

    store = LibraryStore(f"sqlite:///{data_dir / 'hub.sqlite'}", data_dir / "library")
    try:
        store.publish(
            OWNER,
            SLUG,
            folder,
            Metadata(title="Render benchmark", description="A large analysis notebook.", main=NOTEBOOK),
            max_project_size=200 * MB,
            max_user_size=200 * MB,
        )
    finally:
        store.dispose()


def measure_pages(plan: Plan, work: Path, folder: Path, stop: threading.Event) -> dict:
    """Both servers, one after the other: a warm-up view of each page, then the load on each page in turn."""
    data_dir = work / "campushub-data"
    data_dir.mkdir()
    publish(data_dir, folder)
    campushub_pages = {
        "notebook": f"{PREFIX}p/{OWNER}/{SLUG}/v/1/f/{NOTEBOOK}",
        "small": f"{PREFIX}p/{OWNER}/{SLUG}/",
        "small_notebook": f"{PREFIX}p/{OWNER}/{SLUG}/v/1/f/{SMALL_NOTEBOOK}",
    }
    stock_pages = {"notebook": f"/notebooks/{NOTEBOOK}", "small": f"/notebooks/{SMALL_NOTEBOOK}"}
    results: dict[str, dict] = {"campushub": {}, "stock": {}, "first_view_s": {"campushub": {}, "stock": {}}}
    for who, title, mode, argument, pages in (
        ("campushub", "The CampusHub library", "_serve-campushub", str(data_dir), campushub_pages),
        ("stock", "The nbconvert server", "_serve-stock", str(folder), stock_pages),
    ):
        port = free_port()
        server = Server(title, port, work / f"{who}-server.log")
        try:
            print(f"{title}: starting on {HOST}:{port} ...", flush=True)
            server.start(mode, argument, hub_environment(port) if who == "campushub" else None)
            for key, path in pages.items():
                seconds = first_view(server, path, plan.timeout_s)
                results["first_view_s"][who][key] = round(seconds, 4)
                note = " (renders and caches it)" if who == "campushub" and key != "small" else ""
                print(f"  first view of {path}{note}: {seconds:.3f} s", flush=True)
            for key, path in pages.items():
                print(f"  {plan.clients} clients on {path} for {plan.seconds:g} s ...", flush=True)
                results[who][key] = measure_load(server, path, plan, stop)
        finally:
            server.stop()
    return results


# -- output -------------------------------------------------------------------------------------------------------


def shown(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"


def advantage(campushub: float | None, stock: float | None, higher_is_better: bool) -> str:
    """How many times better CampusHub's figure is than stock's (below 1: worse)."""
    if not campushub or not stock:
        return ""
    ratio = campushub / stock if higher_is_better else stock / campushub
    return f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def table(document: dict) -> str:
    render, pages = document["render"], document["page_views"]
    ch, st = render["campushub"], render["stock"]
    size = document["notebook"]["bytes"] / MB
    rows: list[tuple[str, Any, Any, bool | None, int]] = [
        (
            f"render {size:.1f} MB notebook, fresh process: whole process (s)",
            ch["cold"]["process_s"],
            st["cold"]["process_s"],
            False,
            3,
        ),
        ("  imports before the first render (s)", ch["cold"]["import_s"], st["cold"]["import_s"], False, 3),
        ("  first render call (s)", ch["cold"]["first_render_s"], st["cold"]["first_render_s"], False, 3),
        (
            "  imports + first render (s)",
            ch["cold"]["import_plus_render_s"],
            st["cold"]["import_plus_render_s"],
            False,
            3,
        ),
        ("render, warm process, median (s)", ch["warm_render_s"], st["warm_render_s"], False, 3),
        ("cached page (RenderCache read), median (s)", ch["cached"]["median_s"], None, None, 4),
        ("cached page, first read in a fresh process (s)", ch["cached"]["first_in_fresh_process_s"], None, None, 4),
    ]
    first = pages["first_view_s"]
    rows.append(
        (
            "first view of the notebook page, server just started (s)",
            first["campushub"]["notebook"],
            first["stock"]["notebook"],
            False,
            3,
        )
    )
    labels = {
        "notebook": f"{size:.1f} MB notebook page",
        "small": "small page (CampusHub: project page; stock: small notebook)",
        "small_notebook": "small notebook page (stock: the same figures as above)",
    }
    for key, label in labels.items():
        campushub = pages["campushub"][key]
        stock = pages["stock"].get(key) or pages["stock"]["small"]
        rows.extend(
            [
                (f"{label}: views/s", campushub["requests_per_s"], stock["requests_per_s"], True, 2),
                ("  latency p50 (ms)", campushub["latency_ms"]["p50"], stock["latency_ms"]["p50"], False, 1),
                ("  latency p95 (ms)", campushub["latency_ms"]["p95"], stock["latency_ms"]["p95"], False, 1),
                (
                    "  server CPU per view (ms)",
                    campushub["server_cpu_ms_per_request"],
                    stock["server_cpu_ms_per_request"],
                    False,
                    1,
                ),
                ("  page size (KB)", _kb(campushub["bytes_per_page"]), _kb(stock["bytes_per_page"]), None, 0),
                ("  errors (non-200 or no answer)", campushub["errors"], stock["errors"], None, 0),
            ]
        )
    headers = ["figure", "CampusHub", "stock nbconvert", "CampusHub better by"]
    lines_out = [
        [
            label,
            shown(campushub, digits),
            shown(stock, digits),
            "" if better is None else advantage(campushub, stock, better),
        ]
        for label, campushub, stock, better, digits in rows
    ]
    return report.aligned([headers, *lines_out])


def _kb(size: int | None) -> float | None:
    return None if size is None else size / 1024


def environment() -> dict:
    from importlib.metadata import version

    versions = {}
    for package in ("nbconvert", "nbformat", "tornado", "jupyterhub", "nh3", "mistune"):
        with contextlib.suppress(Exception):
            versions[package] = version(package)
    return {
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
        "versions": versions,
    }


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)


# -- the command ---------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    size_mb: float
    seconds: float
    clients: int
    cold_runs: int
    warm_runs: int
    cached_runs: int
    timeout_s: float


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Render a large notebook cold and cached, and count anonymous page views per second: CampusHub's "
        "library against nbviewer-style rendering with plain nbconvert."
    )
    parser.add_argument("--size-mb", type=float, default=5.0, help="size of the notebook's .ipynb in MB (5)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of load on each page (10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients, each one request after another (8)")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes per renderer; medians are shown (3)")
    parser.add_argument("--warm-runs", type=int, default=3, help="renders after the first, in the first process (3)")
    parser.add_argument("--cached-runs", type=int, default=20, help="cached reads after the first (20)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds one request may take before it fails (300)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file (bench/results/library_render.json)")
    args = parser.parse_args(argv)
    if not 0 < args.size_mb <= MAX_SIZE_MB:
        parser.error(
            f"--size-mb must be more than 0 and at most {MAX_SIZE_MB:g} (the library's max_render_size is 20 MB)"
        )
    if args.seconds <= 0 or args.clients < 1 or args.cold_runs < 1 or args.timeout <= 0:
        parser.error("--seconds, --clients, --cold-runs and --timeout must be more than 0")
    if args.warm_runs < 1 or args.cached_runs < 1:
        parser.error("--warm-runs and --cached-runs must be at least 1")
    return args


def preflight(out: Path) -> None:
    """The problems an operator can fix, found before anything is started."""
    if sys.platform != "linux":
        raise errors.BenchError("It reads the servers' CPU time from Linux's /proc. Run it on Linux.")
    try:
        from nbconvert import HTMLExporter

        HTMLExporter(template_name="lab")
    except Exception as problem:  # any reason nbconvert cannot render: the stock side cannot run
        raise errors.BenchError(
            f"nbconvert's `lab` template is not usable here ({problem}). Run `make install`."
        ) from None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as problem:
        raise errors.BenchError(
            f"The results file {out} cannot be written ({problem.strerror}). Choose another with --out."
        ) from None


def remove_tree(path: Path) -> None:
    """The run's temporary folder; the library's published versions are read-only, so made writable first."""

    def writable(function: Callable, name: str, _info: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), 0o700)
            os.chmod(name, 0o700)
        with contextlib.suppress(OSError):
            function(name)

    shutil.rmtree(path, onerror=writable)  # onexc only from Python 3.12


def benchmark(args: argparse.Namespace, signals: Signals) -> int:
    plan = Plan(
        args.size_mb, args.seconds, args.clients, args.cold_runs, args.warm_runs, args.cached_runs, args.timeout
    )
    preflight(args.out)
    started = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="library-render-"))
    try:
        folder = work / "project"
        folder.mkdir()
        made = make_notebook(int(plan.size_mb * MB))
        small = make_notebook(SMALL_SIZE_BYTES, seed=SEED + 1, noise_pixels=(4, 8))
        (folder / NOTEBOOK).write_text(made.text, encoding="utf-8")
        (folder / SMALL_NOTEBOOK).write_text(small.text, encoding="utf-8")
        print(
            f"Notebook {NOTEBOOK}: {len(made.text.encode()) / MB:.2f} MB, {made.cells} cells "
            f"({made.images} PNG figures, {made.tables} HTML tables); "
            f"{SMALL_NOTEBOOK}: {len(small.text.encode()) / 1024:.0f} KB, {small.cells} cells",
            flush=True,
        )
        warm_up()
        print("Renders (each cold run in a fresh process):", flush=True)
        renders, bodies = measure_renders(plan, work, folder / NOTEBOOK, signals.stop)
        print("Page views:", flush=True)
        pages = measure_pages(plan, work, folder, signals.stop)
    finally:
        signals.cleaning = True
        try:
            remove_tree(work)
        finally:
            signals.done_cleaning()

    document = {
        "benchmark": "library-render",
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": {**plan.__dict__, "seed": SEED},
        "environment": environment(),
        "notebook": made.summary(),
        "small_notebook": small.summary(),
        "page_contents": page_contents(bodies, made),
        "render": renders,
        "page_views": pages,
    }
    write_json(args.out, document)

    print()
    print(
        f"Library rendering: {NOTEBOOK} of {len(made.text.encode()) / MB:.2f} MB ({made.cells} cells); page views with "
        f"{plan.clients} clients for {plan.seconds:g} s each; {os.cpu_count()} CPUs, load average at the start "
        f"{document['environment']['load_average'][0]:.2f}"
    )
    print(table(document))
    print("(better by: how many times faster, or more views, CampusHub's figure is; below 1x stock's was better)")
    contents = document["page_contents"]
    if contents["campushub"]["png_images"] != contents["stock"]["png_images"] or contents["campushub"]["cells_cut"]:
        print(
            f"\nNote: CampusHub's page shows {contents['campushub']['png_images']} of the notebook's "
            f"{made.images} figures and nbconvert's {contents['stock']['png_images']}: the library bounds what one "
            "page may cost (campushub/library/render.py), so its figures are for less of the notebook."
        )
    print(
        "\nCampusHub's first view of a notebook renders it and stores it in the cache; the views measured after it "
        "are served from the cache. The stock server converts the notebook on every view."
    )
    for who in ("campushub", "stock"):
        for key, figures in document["page_views"][who].items():
            if figures["errors"]:
                print(
                    f"Note: {figures['errors']} failed requests on {who} {key} "
                    f"({figures['statuses']}, {figures['failures'][:2]})."
                )
    print(f"\nResults: {args.out}")
    return 0


def say(paragraph: str) -> None:
    print("\n" + textwrap.fill(paragraph, width=100), file=sys.stderr)


SERVE_MODES: dict[str, Callable[[str, str], None]] = {"_serve-campushub": serve_campushub, "_serve-stock": serve_stock}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SERVE_MODES:  # a server process of the benchmark (see measure_pages)
        SERVE_MODES[argv[0]](*argv[1:3])
        return 0
    args = parse_args(argv)
    signals = Signals(threading.Event())
    signals.install()
    try:
        return benchmark(args, signals)
    except errors.BenchError as problem:
        say(f"The library rendering benchmark could not run. {problem}")
        return 1
    except Interrupted as interrupted:
        say(
            f"Interrupted ({interrupted}). The servers it started were stopped and its temporary files removed; "
            "no results were written."
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
