"""Lecture start: N students sign in and start their servers within a window; CampusHub against stock JupyterHub.

Run as root from the checkout (`make bench`, or `.venv/bin/python bench/lecture_start.py --users 5`).
Each hub is set up in a temporary directory, started, put through the same burst of simulated
students, stopped, and removed with the system accounts it used, one hub after the other. The
figures go to the terminal, to bench/results/lecture-start-<UTC time>.json and to a PNG chart;
bench/README.md says what each figure means.

Exit status: 0 when the benchmark completed (failures of students are results, and reported),
1 when it could not run or was interrupted (with the reason in one paragraph).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, this file's directory is on sys.path, not the checkout that holds the `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import accounts, errors, hubs, lecture, report, summary
from bench.interrupts import Interrupted, Signals

DEFAULT_OUT = hubs.REPO / "bench" / "results"
ORDER = ("campushub", "campushub-warmed", "stock")
SETTLE_S = 5.0
IDLE_S = 5.0
RTT_STUDENTS = 10
RTT_EXECUTES = 50


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="N students sign in and start servers within a window: CampusHub against stock JupyterHub 6."
    )
    parser.add_argument("--users", type=int, default=50, help="number of students (1-999; default 50)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which sign-ins start (default 60)")
    parser.add_argument("--only", choices=ORDER, help="run one hub only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory (default bench/results)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per student before it fails (300)")
    parser.add_argument(
        "--limits",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CampusHub with per-user limits (memory 2G, CPU 1, 256 processes) or without; "
        "default: with them wherever `campushub check` says this machine can enforce them",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 999:
        parser.error("--users must be between 1 and 999")
    if args.window < 0 or args.timeout <= 0:
        parser.error("--window must be 0 or more and --timeout more than 0")
    return args


def preflight(out: Path) -> None:
    """The problems an operator can fix, found before anything is started."""
    if sys.platform != "linux" or not Path("/proc/self/smaps_rollup").exists():
        raise errors.BenchError(
            "It reads its CPU and memory figures from Linux's /proc (smaps_rollup needs Linux 4.14 or "
            "later), which this system does not have. Run it on the Linux machine that runs CampusHub."
        )
    if os.geteuid() != 0:
        raise errors.BenchError(
            "It must run as root: both hubs run every student's server as a system account of its "
            "own, which it creates and removes. Run it as root (`sudo make bench`) on a machine where creating "
            "accounts named bc-s001, bs-s001 ... is acceptable."
        )
    problem = hubs.missing_requirements()
    if problem:
        raise errors.BenchError(f"The hubs cannot run here: {problem}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise errors.BenchError(
            "matplotlib is not installed in the environment running the benchmark; it draws the chart. "
            "Run the benchmark with the checkout's .venv/bin/python (`make bench` does)."
        ) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise errors.BenchError(
            f"The results directory {out} cannot be written ({exc.strerror}). Choose another one with --out."
        ) from None


def warm_up() -> None:
    """Read the servers' Python packages once, so neither hub pays for a cold page cache the other does not."""
    subprocess.run(
        [str(hubs.VENV_BIN / "python"), "-c", "import jupyterhub.singleuser, jupyterlab, ipykernel, notebook_shim"],
        capture_output=True,
        timeout=120,
        check=False,
    )


def run_hub(
    label: str,
    plan: lecture.Plan,
    password: str,
    owned: accounts.SystemAccounts,
    signals: Signals,
    stem: str,
    out: Path,
    limits: bool | None,
) -> tuple[lecture.HubRun, dict]:
    """One hub from setup to removal; returns its run and what its log showed."""
    hub = hubs.HUBS[label](plan.student_names(), password, owned, limits)
    log: dict = {}
    try:
        print(f"{hub.title}: setting up {plan.users} students ...", flush=True)
        hub.prepare()
        print(f"{hub.title}: per-user limits {hub.limits.describe()}", flush=True)
        hub.start()
        print(
            f"{hub.title}: running at {hub.url}; settling {plan.settle_s:.0f} s, then {plan.users} sign-ins "
            f"over {plan.window_s:g} s",
            flush=True,
        )
        started = time.monotonic()
        run = lecture.run_lecture(hub, plan, password, signals.stop)
        completed = sum(record.ok for record in run.students)
        print(
            f"{hub.title}: {completed}/{plan.users} students got their result, {len(run.failures)} failures, "
            f"{time.monotonic() - started:.0f} s; stopping it",
            flush=True,
        )
        return run, log
    finally:
        signals.cleaning = True
        try:
            hub.stop()
            if hub.log_path is not None and hub.log_path.exists():
                saved = out / f"{stem}-{label}.log"
                shutil.copyfile(hub.log_path, saved)
                log.update(file=saved.name, **report.log_findings(hub.log_text()))
            hub.cleanup()
            stuck = owned.remove_all()
            if stuck:
                print(f"Could not remove the accounts {', '.join(stuck)}: remove them with userdel --remove.")
        finally:
            signals.done_cleaning()


def benchmark(args: argparse.Namespace, signals: Signals) -> int:
    plan = lecture.Plan(
        users=args.users,
        window_s=args.window,
        timeout_s=args.timeout,
        settle_s=SETTLE_S,
        idle_s=IDLE_S,
        rtt_students=min(args.users, RTT_STUDENTS),
        rtt_executes=RTT_EXECUTES,
    )
    started = datetime.now(UTC)
    stem = f"lecture-start-{started:%Y%m%dT%H%M%SZ}"
    password = os.urandom(12).hex()
    owned = accounts.SystemAccounts()
    runs: list[lecture.HubRun] = []
    logs: dict[str, dict] = {}
    order = [args.only] if args.only else list(ORDER)
    try:
        warm_up()
        for index, label in enumerate(order):
            if index:
                time.sleep(SETTLE_S)
            run, logs[label] = run_hub(label, plan, password, owned, signals, stem, args.out, args.limits)
            runs.append(run)
    finally:
        signals.cleaning = True
        owned.remove_all()
        signals.done_cleaning()

    summaries = {run.label: summary.summarize(run) for run in runs}
    titles = {run.label: run.title for run in runs}
    document = {
        "benchmark": "lecture-start",
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": {
            "users": plan.users,
            "window_s": plan.window_s,
            "per_student_timeout_s": plan.timeout_s,
            "settle_s": plan.settle_s,
            "idle_before_memory_s": plan.idle_s,
            "rtt_students": plan.rtt_students,
            "rtt_executes_each": plan.rtt_executes,
            "order": order,
            "limits_asked": args.limits,
            "limits": hubs.LIMITS,
        },
        "environment": report.environment(hubs.REPO),
        "hubs": {run.label: report.run_document(run, summaries[run.label], logs.get(run.label, {})) for run in runs},
        "ratios_campushub_over_stock": summary.ratios(summaries["campushub"], summaries["stock"])
        if {"campushub", "stock"} <= set(summaries)
        else None,
        "ratios_warmed_campushub_over_stock": summary.ratios(summaries["campushub-warmed"], summaries["stock"])
        if {"campushub-warmed", "stock"} <= set(summaries)
        else None,
    }
    json_path = args.out / f"{stem}.json"
    png_path = args.out / f"{stem}.png"
    report.write_json(json_path, document)
    report.write_chart(png_path, runs, summaries)

    environment = document["environment"]
    print()
    print(
        f"Lecture start: {plan.users} students, sign-ins over {plan.window_s:g} s; {environment['cpus']} CPUs, "
        f"JupyterHub {environment['versions']['jupyterhub']}"
    )
    print("Per-user limits:")
    print("\n".join(report.limits_lines(runs, summaries)))
    print(report.table(summaries, titles))
    failures = report.failure_lines(runs)
    if failures:
        print("\nFailures (first few per hub):")
        print("\n".join(failures))
    for run in runs:
        busy = run.background.busy_cores
        if busy > 0.2:
            busiest = ", ".join(f"{p['command'][:60] or p['pid']} ({p['cpu_s']} s)" for p in run.background.top)
            print(
                f"\nNote: in the {plan.settle_s:.0f} s before {run.title}'s burst the machine was already busy "
                f"({busy:.2f} CPUs' worth; most: {busiest}): the machine CPU figure includes such work."
            )
    for run in runs:
        if run.burst.tree is not None and run.burst.tree.error:
            print(
                f"\nNote: {run.title}'s CPU split by part is incomplete: the sampling of its processes stopped "
                f"({run.burst.tree.error}); the machine figure is not affected."
            )
    for label, log in logs.items():
        if log.get("error_lines"):
            print(f"\n{titles.get(label, label)} log: {log['error_lines']} error lines, e.g. {log['first_errors'][0]}")
    print(f"\nResults: {json_path}\nChart:   {png_path}")
    return 0


def say(paragraph: str) -> None:
    print("\n" + textwrap.fill(paragraph, width=100), file=sys.stderr)


# Other backends' benchmarks, each against its stock spawner: `make bench ARGS="--backend docker --students 10"`.
OTHER_BACKENDS = {"docker": "docker_start.py", "slurm": "slurm_start.py"}


def other_backend(argv: list[str]) -> int | None:
    """`--backend docker|slurm`: run that backend's benchmark with the other arguments; None for `local`."""
    if "--backend" not in argv:
        return None
    at = argv.index("--backend")
    backend = argv[at + 1] if at + 1 < len(argv) else ""
    rest = argv[:at] + argv[at + 2 :]
    if backend == "local":
        return None
    if backend not in OTHER_BACKENDS:
        say(f"--backend must be local, docker or slurm, not {backend!r}")
        return 2
    script = Path(__file__).with_name(OTHER_BACKENDS[backend])
    return subprocess.call([sys.executable, str(script), *rest])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    delegated = other_backend(argv)
    if delegated is not None:
        return delegated
    argv = [
        arg for index, arg in enumerate(argv) if arg != "--backend" and (index == 0 or argv[index - 1] != "--backend")
    ]
    args = parse_args(argv)
    signals = Signals(threading.Event())
    signals.install()
    try:
        preflight(args.out)
        return benchmark(args, signals)
    except errors.BenchError as problem:
        say(f"The benchmark could not run. {problem}")
        return 1
    except Interrupted as interrupted:
        say(
            f"Interrupted ({interrupted}). The hubs, proxies and servers it started were stopped and the "
            "accounts it created were removed; no results were written."
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
