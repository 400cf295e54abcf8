"""Environments for a class: students launch one repository whose requirements.txt lists its packages.

Run from the checkout (`.venv/bin/python bench/environment_builds.py`), as root or not; no network (a
package index on loopback, bench/package_index.py, serves the packages). The question is how long each
student waits before the repository's kernel has its packages, and what the machine spends, when a class
launches the same repository within a minute:

- CampusHub: one `EnvironmentBuilder` (campushub/environments). Each launch asks for the environment; the
  first builds it (as the build account when run as root), the others arriving meanwhile wait for that
  build, later ones find it ready.
- Stock JupyterHub has no builder: the usual advice is a `pip install -r requirements.txt` in one's own
  server (`--user`). Here each student's install goes into a folder of their own (`pip install --target`,
  what `--user` does) with the same pip, the same index and the same user environment behind it.

`--students` arrive evenly over `--window` seconds and each launch runs in a thread of its own, as the
library's launches do. The repository needs `--packages` packages of `--size-kb` KB each. Figures: each
student's wait (first, median, 95th percentile, last), the CPU-seconds of all processes the launches ran,
the bytes the index served and the disk the environments take. The table goes to the terminal and the
figures to `--out` (bench/results/environment_builds.json); bench/README.md explains them.

Exit status: 0 when the benchmark completed, 1 when it could not run (with the reason).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.package_index import Package, running_index
from campushub.environments.builder import BuildSettings, EnvironmentBuilder, python_version
from campushub.environments.spec import parse_spec

BUILD_ACCOUNT = "chbench-build"
RESULTS = Path(__file__).resolve().parent / "results" / "environment_builds.json"


def packages(count: int, size_kb: int) -> list[Package]:
    return [
        Package(f"bench-course-package-{n}", "1.0", f"bench_course_package_{n}", f"VALUE = {n}\n", size_kb * 1024)
        for n in range(count)
    ]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def disk_use(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())


def arrivals(students: int, window: float) -> list[float]:
    return [window * n / max(students - 1, 1) for n in range(students)]


def run_class(launch, students: int, window: float) -> list[float]:
    """Each student's wait in seconds, from their arrival to their environment being there."""
    start = time.monotonic()
    waits = [0.0] * students

    def student(n: int, at: float) -> None:
        time.sleep(max(0.0, start + at - time.monotonic()))
        arrived = time.monotonic()
        launch(n)
        waits[n] = time.monotonic() - arrived

    with ThreadPoolExecutor(students) as pool:
        list(pool.map(student, range(students), arrivals(students, window)))
    return waits


def campushub_class(args, index_url: str, python: Path, workdir: Path, requirements: str) -> dict:
    account = BUILD_ACCOUNT if os.geteuid() == 0 else None
    root = workdir / "campushub"
    builder = EnvironmentBuilder(BuildSettings(root, python, index_url, 900, account))
    spec = parse_spec("requirements.txt", requirements, python_version(python))
    states: list[str] = []

    def launch(n: int) -> None:
        _key, state = builder.build(spec, "bench/course", "bench")  # built, or waited for, or found ready
        states.append(state)

    cpu = children_cpu()
    waits = run_class(launch, args.students, args.window)
    return {"waits": waits, "cpu_s": children_cpu() - cpu, "disk": disk_use(root), "states": sorted(set(states))}


def stock_class(args, index_url: str, python: Path, workdir: Path, requirements: str) -> dict:
    root = workdir / "stock"
    root.mkdir()
    (root / "requirements.txt").write_text(requirements)
    lock = threading.Lock()
    failures: list[str] = []

    def launch(n: int) -> None:
        target = root / f"student-{n}"
        command = [str(python), "-m", "pip", "install", "--quiet", "--no-input", "--disable-pip-version-check",
                   "--index-url", index_url, "--target", str(target), "-r", str(root / "requirements.txt")]  # fmt: skip
        environment = {"PATH": "/usr/bin:/bin", "HOME": str(target), "PIP_CACHE_DIR": str(target / ".cache")}
        result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
        if result.returncode != 0:
            with lock:
                failures.append(result.stderr.strip()[-300:])

    cpu = children_cpu()
    waits = run_class(launch, args.students, args.window)
    if failures:
        raise RuntimeError(f"a stock install failed: {failures[0]}")
    return {"waits": waits, "cpu_s": children_cpu() - cpu, "disk": disk_use(root)}


def summary(waits: list[float]) -> dict:
    ordered = sorted(waits)
    return {
        "first_s": waits[0],
        "median_s": statistics.median(ordered),
        "p95_s": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max_s": ordered[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--window", type=float, default=20.0, help="seconds over which the students arrive")
    parser.add_argument("--packages", type=int, default=5)
    parser.add_argument("--size-kb", type=int, default=2048, help="size of each package's data")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    python = Path(sys.prefix) / "bin" / "python"
    workdir = Path(tempfile.mkdtemp(prefix="bench-environments-", dir="/var/tmp"))
    workdir.chmod(0o755)
    made_account = os.geteuid() == 0 and not account_exists(BUILD_ACCOUNT)
    try:
        wanted = packages(args.packages, args.size_kb)
        requirements = "".join(f"{package.name}=={package.version}\n" for package in wanted)
        figures: dict = {"students": args.students, "window_s": args.window, "packages": args.packages,
                         "package_kb": args.size_kb}  # fmt: skip
        for label, run in (("campushub", campushub_class), ("stock", stock_class)):
            with running_index(wanted) as index:
                result = run(args, index.url, python, workdir, requirements)
                figures[label] = {**summary(result.pop("waits")), **result, "index_bytes": index.served_bytes}
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        print(f"The benchmark could not run: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if made_account:
            subprocess.run(["userdel", BUILD_ACCOUNT], capture_output=True, check=False)
    report(figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


def account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def report(figures: dict) -> None:
    print(
        f"{figures['students']} students launch one repository within {figures['window_s']:.0f} s; "
        f"requirements.txt: {figures['packages']} packages of {figures['package_kb']} KB"
    )
    print(f"{'':28}{'CampusHub':>12}{'stock (pip --user)':>20}{'ratio':>8}")
    rows = [
        ("first student waits (s)", "first_s", "{:.2f}"),
        ("median wait (s)", "median_s", "{:.2f}"),
        ("p95 wait (s)", "p95_s", "{:.2f}"),
        ("CPU, all launches (s)", "cpu_s", "{:.1f}"),
        ("index served (MB)", "index_bytes", "{:.1f}"),
        ("disk used (MB)", "disk", "{:.1f}"),
    ]
    for title, key, form in rows:
        ours, theirs = figures["campushub"][key], figures["stock"][key]
        if key in ("index_bytes", "disk"):
            ours, theirs = ours / 1e6, theirs / 1e6
        ratio = f"x{ours / theirs:.2f}" if theirs else "-"
        print(f"{title:28}{form.format(ours):>12}{form.format(theirs):>20}{ratio:>8}")


if __name__ == "__main__":
    sys.exit(main())
