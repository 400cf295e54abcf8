"""Noisy neighbour: how much one user's CPU-bound cell slows another user's kernel, without and with `cpu_limit`.

Run as root from the checkout (`.venv/bin/python bench/noisy_neighbour.py`). CampusHub is set up and
started twice in turn, in temporary directories on free loopback ports: once without any limit, once
with `compute.cpu_limit` (0.5 cores unless `--cpu-limit` says otherwise). In each run `bob` sends `1+1`
to his kernel over its websocket, again and again, first while nobody else works (the baseline), then
while `alice` runs a cell that keeps two processes spinning (enough to take both cores of a 2-core
machine when nothing holds her back). Bob's round trips and the CPU alice's processes used meanwhile
go to the terminal as a table and to bench/results/noisy_neighbour.json; bench/README.md ("Noisy neighbour") says
what each figure means.

Exit status: 0 when the benchmark completed (bob's failed round trips are results, and reported),
1 when it could not run or was interrupted (with the reason in one paragraph).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, this file's directory is on sys.path, not the checkout that holds the `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import websocket
from ruamel.yaml import YAML

from bench import accounts, errors, hubs, procfs, report
from bench.interrupts import Interrupted, Signals
from bench.students import Failure, SimulatedStudent, Stopped, StudentFailed
from campushub.compute.cgroups import detect as detect_cgroups
from campushub.compute.cgroups import parse_mountinfo, parse_proc_cgroup, unescape

DEFAULT_OUT = hubs.REPO / "bench" / "results" / "noisy_neighbour.json"
PREFIX = "bn-"  # system accounts of this benchmark: bn-alice, bn-bob (CampusHub makes them on first start)
VICTIM = "bob"
BURNER_NAMES = ("alice", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan")
SETTLE_S = 3.0  # after the servers are up, before the baseline: the servers' own start-up work ends
WARMUP_S = 1.5  # after the burn cell is sent, before the clock starts: its processes are forked and spinning
TAIL_S = 1.0  # the burn goes on this much past the measured window, so it covers the window's last round trip
ROUND_TRIP_TIMEOUT_S = 60.0
SIGN_IN_TIMEOUT_S = 180.0
STOP_GRACE_S = 60
LIMIT_KEYS = ("memory_limit", "cpu_limit", "process_limit")  # campus.yaml's per-user limits, under `compute`
LIMITED_CORES_TOLERANCE = 1.3  # the smoke test's bound: CFS quota accounting lets a group run a little over

BURN_CELL = """\
import os, time
_deadline = time.monotonic() + {seconds!r}
_children = []
for _ in range({processes}):
    _pid = os.fork()
    if _pid == 0:
        try:
            while time.monotonic() < _deadline:
                pass
        finally:
            os._exit(0)
    _children.append(_pid)
for _pid in _children:
    os.waitpid(_pid, 0)
"""


# -- the hub ------------------------------------------------------------------------------------------


class NeighbourCampusHub(hubs.CampusHub):
    """CampusHub as the lecture benchmark sets it up, with its own account prefix and, optionally, a CPU limit.

    It is stopped with SIGINT, as Ctrl-C would: `campushub up` then stops the users' servers, where SIGTERM
    would leave them running for a restart to find again (and this run's accounts could not be removed).
    """

    prefix = PREFIX

    def __init__(
        self, students: Sequence[str], password: str, owned: accounts.SystemAccounts, cpu_limit: float | None
    ) -> None:
        super().__init__(students, password, owned, limits=False)  # it sets cpu_limit alone, below
        self.cpu_limit = cpu_limit
        self.label = "no-limit" if cpu_limit is None else "cpu-limit"
        self.new_groups: list[Path] = []  # the users' cgroups this run made, removed after it when empty
        self.limits_in_force: dict[str, object] = {}  # campus.yaml's limit keys as the hub read them
        self.title = "CampusHub, no limit" if cpu_limit is None else f"CampusHub, cpu_limit={cpu_limit:g}"

    def prepare(self) -> None:
        """The lecture benchmark's campus, then exactly the limits of this run: `compute.cpu_limit` or none at all.

        Every limit key is set here, whatever the shared set-up put in campus.yaml, so that "no limit" means
        none and the limited run differs from it in `cpu_limit` alone; `limits` records what the hub ran with.
        """
        super().prepare()
        if self.cpu_limit is not None:
            support = detect_cgroups()
            if "cpu" in support.usable:  # where CampusHub makes its users' groups: beside its own cgroup
                users = support.usable["cpu"].base / "users"
                self.new_groups = [path for path in (users / name for name in self.students) if not path.exists()]
        assert self.workdir is not None
        config = self.workdir / "campus.yaml"
        yaml = YAML(typ="rt")
        document = yaml.load(config.read_text())
        compute = document["compute"]
        for key in LIMIT_KEYS:
            compute.pop(key, None)
        if self.cpu_limit is not None:
            compute["cpu_limit"] = self.cpu_limit
        with config.open("w") as out:
            yaml.dump(document, out)
        written = yaml.load(config.read_text())["compute"]
        self.limits_in_force = {key: written.get(key) for key in LIMIT_KEYS}

    def why_not_started(self) -> str:
        """The plain reason from the hub's log: this run sets its limits itself, and has no options about them."""
        return hubs.Hub.why_not_started(self)

    def stop(self) -> None:
        """SIGINT to `campushub up`'s process group (Ctrl-C), then SIGKILL whatever of it is left."""
        if self.process is None:
            return
        tree = procfs.descendants(self.process.pid) if self.process.poll() is None else []
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for process in tree:
            if procfs.is_same_process(process):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
        self.accounts.kill_processes(self.accounts_of_students())

    def remove_new_groups(self, wait_s: float = 5.0) -> None:
        """The users' cgroups this run made and CampusHub left behind (empty, their quota still set).

        A process killed a moment ago may still hold its group, so a busy one is tried again for a while.
        """
        deadline = time.monotonic() + wait_s
        for group in self.new_groups:  # `users` itself stays: CampusHub's layout, shared by every hub here
            while group.exists():
                try:
                    group.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        print(f"Could not remove the cgroup {group}: remove it with rmdir once it is empty.")
                        break
                    time.sleep(0.2)


# -- one user's kernel ---------------------------------------------------------------------------------


@dataclass
class KernelUser(SimulatedStudent):
    """The lecture benchmark's student, who can also run a cell of their own (the burn), not only `1+1`."""

    def run_cell(self, code: str, timeout_s: float) -> None:
        """Execute `code` and wait until the kernel is idle again; an error in the cell fails the user."""
        assert self._ws is not None
        self._deadline = time.monotonic() + timeout_s
        step, ws_url = "burn", self._ws_url
        msg_id, request = self.execute_request(code)
        with self._ws_lock:
            try:
                self._ws.send(json.dumps(request))
                while True:
                    self._ws.settimeout(self._remaining(step, "WS", ws_url))
                    raw = self._ws.recv()
                    if not raw:
                        raise self._failed(step, ws_url, "the server closed the websocket")
                    message = json.loads(raw)
                    if message.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind, content = message.get("msg_type"), message.get("content", {})
                    if kind == "error":
                        raise self._failed(step, ws_url, f"{content.get('ename')}: {content.get('evalue')}")
                    if kind == "status" and content.get("execution_state") == "idle":
                        return
            except (TimeoutError, websocket.WebSocketTimeoutException):
                raise self._failed(step, ws_url, "the cell did not end in time") from None
            except (OSError, ValueError, websocket.WebSocketException) as exc:
                raise self._failed(step, ws_url, str(exc)[:300]) from None

    def _failed(self, step: str, ws_url: str, detail: str) -> StudentFailed:
        return StudentFailed(Failure(self.name, step, "error", "WS", ws_url, detail))


# -- readings -------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), as the lecture benchmark computes it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def account_cpu_ticks(uid: int) -> dict[tuple[int, int], int]:
    """utime + stime of every process of one account (all threads), keyed so a reused pid is a new process."""
    return {
        (process.pid, process.start_ticks): process.cpu_ticks
        for process in procfs.processes()
        if process.real_uid == uid
    }


def cores_between(before: dict[tuple[int, int], int], after: dict[tuple[int, int], int], elapsed_s: float) -> float:
    """CPUs' worth of work between two readings; a process born in between counts from zero.

    A process that ended in between is lost, which is why the burn outlives the window.
    """
    ticks = sum(value - before.get(key, 0) for key, value in after.items())
    return ticks / procfs.CLOCK_TICKS / elapsed_s if elapsed_s > 0 else 0.0


def cpu_group(pid: int) -> Path | None:
    """The directory of `pid`'s cgroup in the hierarchy that holds the `cpu` controller (v1 or v2)."""
    try:
        mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
        v1_paths, v2_path = parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    except OSError:
        return None
    for mount in mounts:
        if mount.version == 1 and "cpu" in mount.controllers and "cpu" in v1_paths:
            own = v1_paths["cpu"]
            break
    else:
        mount = next((mount for mount in mounts if mount.version == 2), None)
        if mount is None or v2_path is None:
            return None
        own = v2_path
    relative = own[len(mount.root) :] if mount.root != "/" and own.startswith(mount.root) else own
    return Path(unescape(mount.path)) / relative.lstrip("/")


def read_keyed(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                values[key] = int(value)
    return values


def group_reading(group: Path | None) -> dict:
    """What the user's cgroup says: its quota, CPU used (where it counts it) and how often it was held back."""
    if group is None:
        return {}
    reading: dict = {"group": str(group)}
    stat = read_keyed(group / "cpu.stat")
    if (group / "cpu.max").exists():  # v2: usage_usec, nr_throttled, throttled_usec
        reading["quota"] = (group / "cpu.max").read_text().strip()
        reading["usage_s"] = stat.get("usage_usec", 0) / 1e6 if "usage_usec" in stat else None
        reading["throttled_s"] = stat.get("throttled_usec", 0) / 1e6
    else:  # v1: the cpu controller counts throttling; cpuacct, when mounted with it, counts usage
        with contextlib.suppress(OSError):
            quota = int((group / "cpu.cfs_quota_us").read_text())
            period = int((group / "cpu.cfs_period_us").read_text())
            reading["quota"] = f"{quota} {period}" if quota > 0 else f"max {period}"
        usage = group / "cpuacct.usage"
        reading["usage_s"] = int(usage.read_text()) / 1e9 if usage.exists() else None
        reading["throttled_s"] = stat.get("throttled_time", 0) / 1e9
    reading["nr_periods"] = stat.get("nr_periods")
    reading["nr_throttled"] = stat.get("nr_throttled")
    return reading


def group_delta(before: dict, after: dict, elapsed_s: float) -> dict | None:
    """The cgroup's figures over the window; None when the user has no cgroup of their own (no limit set)."""
    if not after or Path(after["group"]).parent.name != "users":  # still in the hub's own group: no limit set
        return None

    def grew(key: str) -> float | None:
        if before.get(key) is None or after.get(key) is None:
            return None
        return after[key] - before[key]

    usage = grew("usage_s")
    return {
        "group": after.get("group"),
        "quota": after.get("quota"),
        "cores": None if usage is None or elapsed_s <= 0 else round(usage / elapsed_s, 3),
        "throttled_s": None if grew("throttled_s") is None else round(grew("throttled_s") or 0.0, 3),
        "periods": grew("nr_periods"),
        "throttled_periods": grew("nr_throttled"),
    }


def machine_ticks() -> int:
    return procfs.machine_busy_ticks()[0]


# -- the scenario ------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One measured window: bob's round trips while the burners did (or did not) burn."""

    key: str
    title: str
    seconds: float = 0.0
    rtt_ms: list[float] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    burner_cores: dict[str, float] = field(default_factory=dict)  # per burner, from /proc of their processes
    groups: dict[str, dict | None] = field(default_factory=dict)  # each user's cgroup, bob's too
    victim_cores: float = 0.0
    machine_cores: float = 0.0

    def summary(self) -> dict:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {
            "title": self.title,
            "seconds": round(self.seconds, 2),
            "round_trips": len(self.rtt_ms),
            "failures": len(self.failures),
            "rtt_ms": {
                "p50": rounded(percentile(self.rtt_ms, 50)),
                "p95": rounded(percentile(self.rtt_ms, 95)),
                "max": rounded(max(self.rtt_ms) if self.rtt_ms else None),
                "mean": rounded(sum(self.rtt_ms) / len(self.rtt_ms) if self.rtt_ms else None),
            },
            "alice_cores": round(self.burner_cores.get(BURNER_NAMES[0], 0.0), 3),
            "burners_cores": {name: round(value, 3) for name, value in self.burner_cores.items()},
            "burners_cores_total": round(sum(self.burner_cores.values()), 3),
            "cgroups": self.groups,
            "bob_cores": round(self.victim_cores, 3),
            "machine_busy_cores": round(self.machine_cores, 3),
        }


@dataclass
class Plan:
    burners: int
    processes: int
    seconds: float
    cpu_limit: float
    interval_s: float

    @property
    def burner_names(self) -> list[str]:
        return list(BURNER_NAMES[: self.burners])


def sign_in(hub: NeighbourCampusHub, name: str, stop: threading.Event) -> KernelUser:
    """Bob and the burners reach their kernels the way the lecture benchmark's students do."""
    user = KernelUser(hub.url, name, hub.password, SIGN_IN_TIMEOUT_S, stop)
    try:
        user.first_result()
    except StudentFailed as failed:
        user.close()
        raise errors.BenchError(
            f"{hub.title}: {name} could not reach a kernel ({failed}). The hub's log is saved beside the results."
        ) from None
    user.timeout_s = ROUND_TRIP_TIMEOUT_S
    return user


def measure_window(
    scenario: Scenario,
    bob: KernelUser,
    burner_uids: dict[str, int],
    group_pids: dict[str, int],
    bob_uid: int,
    plan: Plan,
    stop: threading.Event,
) -> None:
    """Bob's `1+1` for `plan.seconds`, one every `interval_s` after the last answer; everyone's CPU around it."""
    groups_before = {name: group_reading(cpu_group(pid)) for name, pid in group_pids.items()}
    before = {name: account_cpu_ticks(uid) for name, uid in burner_uids.items()}
    bob_before = account_cpu_ticks(bob_uid)
    busy_before = machine_ticks()
    started = time.monotonic()
    ends = started + plan.seconds
    while time.monotonic() < ends:
        try:
            scenario.rtt_ms.extend(bob.warm_round_trips(1))
        except StudentFailed as failed:
            scenario.failures.append(failed.failure.as_dict())
            if len(scenario.failures) >= 3:
                break
        if stop.wait(plan.interval_s):
            raise Stopped
    elapsed = time.monotonic() - started
    busy_after = machine_ticks()
    scenario.seconds = elapsed
    scenario.burner_cores = {
        name: cores_between(before[name], account_cpu_ticks(uid), elapsed) for name, uid in burner_uids.items()
    }
    scenario.victim_cores = cores_between(bob_before, account_cpu_ticks(bob_uid), elapsed)
    scenario.machine_cores = (busy_after - busy_before) / procfs.CLOCK_TICKS / elapsed
    scenario.groups = {
        name: group_delta(groups_before[name], group_reading(cpu_group(pid)), elapsed)
        for name, pid in group_pids.items()
    }


def kernel_pid(uid: int) -> int:
    """One process of the account (its kernel, preferably), to find the account's cgroup from."""
    found = [process for process in procfs.processes() if process.real_uid == uid]
    kernels = [process for process in found if "ipykernel" in process.cmdline]
    return (kernels or found)[0].pid if found else 0


def run_hub(
    plan: Plan, cpu_limit: float | None, owned: accounts.SystemAccounts, signals: Signals, out: Path
) -> tuple[dict[str, Scenario], dict[str, object]]:
    """One CampusHub from setup to removal: sign-ins, the baseline, the burn; returns both windows and the limits."""
    names = [VICTIM, *plan.burner_names]
    password = os.urandom(12).hex()
    hub = NeighbourCampusHub(names, password, owned, cpu_limit)
    users: list[KernelUser] = []
    failed = True
    try:
        print(f"{hub.title}: setting up ...", flush=True)
        hub.prepare()
        hub.start()
        print(f"{hub.title}: running at {hub.url}; starting the servers of {', '.join(names)}", flush=True)
        for name in names:
            users.append(sign_in(hub, name, signals.stop))
        bob, burners = users[0], users[1:]
        uids = {name: accounts.uid_of(hub.account(name)) for name in names}
        if any(uid is None for uid in uids.values()):
            raise errors.BenchError(f"{hub.title}: a user's system account is missing although their server runs.")
        bob_uid = uids[VICTIM] or 0
        burner_uids = {name: uids[name] or 0 for name in plan.burner_names}
        group_pids = {name: kernel_pid(uid or 0) for name, uid in uids.items()}
        time.sleep(SETTLE_S)

        suffix = "no limit" if cpu_limit is None else f"cpu_limit={cpu_limit:g}"
        idle = Scenario(f"idle-{hub.label}", f"idle, {suffix}")
        print(f"{hub.title}: baseline, bob alone for {plan.seconds:g} s", flush=True)
        measure_window(idle, bob, burner_uids, group_pids, bob_uid, plan, signals.stop)

        burning = Scenario(f"burn-{hub.label}", f"alice burns, {suffix}" if plan.burners == 1 else f"burners, {suffix}")
        print(
            f"{hub.title}: {', '.join(plan.burner_names)} burn{'s' if plan.burners == 1 else ''} "
            f"{plan.processes} processes each for {plan.seconds:g} s",
            flush=True,
        )
        code = BURN_CELL.format(seconds=WARMUP_S + plan.seconds + TAIL_S, processes=plan.processes)
        cell_errors: list[str] = []

        def burn(user: KernelUser) -> None:
            try:
                user.run_cell(code, WARMUP_S + plan.seconds + TAIL_S + ROUND_TRIP_TIMEOUT_S)
            except (StudentFailed, Stopped) as problem:
                cell_errors.append(f"{user.name}: {problem}")

        threads = [threading.Thread(target=burn, args=(user,), daemon=True) for user in burners]
        for thread in threads:
            thread.start()
        if signals.stop.wait(WARMUP_S):
            raise Stopped
        measure_window(burning, bob, burner_uids, group_pids, bob_uid, plan, signals.stop)
        for thread in threads:
            thread.join(timeout=TAIL_S + ROUND_TRIP_TIMEOUT_S)
        if cell_errors:
            raise errors.BenchError(f"{hub.title}: the burn cell did not run to its end: {'; '.join(cell_errors)}.")
        failed = False
        return {"idle": idle, "burn": burning}, hub.limits_in_force
    except Stopped:
        raise Interrupted(signals.received or "stopped") from None
    finally:
        signals.cleaning = True
        try:
            for user in users:
                user.close()
            if failed and hub.log_path is not None and hub.log_path.exists():
                with contextlib.suppress(OSError):
                    shutil.copyfile(hub.log_path, out.with_name(f"{out.stem}-{hub.label}.log"))
            hub.cleanup()
            hub.remove_new_groups()
            stuck = owned.remove_all()
            if stuck:
                print(f"Could not remove the accounts {', '.join(stuck)}: remove them with userdel --remove.")
        finally:
            signals.done_cleaning()


# -- output ----------------------------------------------------------------------------------------------------


def table(rows: list[tuple[str, dict]], burners: int) -> str:
    """Scenario by bob's latency and the burners' CPU, as the terminal shows it."""
    headers = ["scenario", "bob 1+1 p50 (ms)", "p95 (ms)", "max (ms)", "round trips", "alice's cores"]
    if burners > 1:
        headers.append("all burners' cores")

    def shown(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = []
    for title, summary in rows:
        rtt = summary["rtt_ms"]
        trips = f"{summary['round_trips']}" + (f" ({summary['failures']} failed)" if summary["failures"] else "")
        line = [title, shown(rtt["p50"]), shown(rtt["p95"]), shown(rtt["max"]), trips, shown(summary["alice_cores"], 2)]
        if burners > 1:
            line.append(shown(summary["burners_cores_total"], 2))
        lines.append(line)
    return report.aligned([headers, *lines])


def environment() -> dict:
    versions = {}
    for package in ("jupyterhub", "jupyter_server", "ipykernel"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    return {"cpus": os.cpu_count(), "kernel": os.uname().release, "versions": versions}


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)


# -- the command --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="One user's CPU-bound cell against another user's `1+1` latency: CampusHub without and with "
        "compute.cpu_limit."
    )
    parser.add_argument("--burners", type=int, default=1, help=f"users burning CPU at once (1-{len(BURNER_NAMES)})")
    parser.add_argument("--processes", type=int, default=2, help="spinning processes in each burner's cell (2)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds each measured window lasts (15)")
    parser.add_argument("--cpu-limit", type=float, default=0.5, help="compute.cpu_limit of the limited run (0.5)")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between bob's round trips (0.1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file (bench/results/noisy_neighbour.json)")
    args = parser.parse_args(argv)
    if not 1 <= args.burners <= len(BURNER_NAMES):
        parser.error(f"--burners must be between 1 and {len(BURNER_NAMES)}")
    if args.processes < 1 or args.seconds <= 0 or args.cpu_limit <= 0 or args.interval < 0:
        parser.error("--processes, --seconds and --cpu-limit must be more than 0, --interval 0 or more")
    return args


def preflight(plan: Plan, out: Path) -> None:
    """The problems an operator can fix, found before anything is started."""
    if sys.platform != "linux":
        raise errors.BenchError(
            "It reads its CPU figures from Linux's /proc and CampusHub enforces cpu_limit with Linux cgroups, "
            "which this system does not have. Run it on the Linux machine that runs CampusHub."
        )
    if os.geteuid() != 0:
        raise errors.BenchError(
            "It must run as root: CampusHub runs every user's server as a system account of its own and enforces "
            f"cpu_limit with cgroups, both of which need root. Run it as root on a machine where creating accounts "
            f"named {PREFIX}alice and {PREFIX}bob is acceptable."
        )
    problem = hubs.missing_requirements()
    if problem:
        raise errors.BenchError(f"CampusHub cannot run here: {problem}")
    support = detect_cgroups()
    if "cpu" not in support.usable:
        raise errors.BenchError(
            f"CampusHub cannot enforce compute.cpu_limit from here: {support.describe('cpu')}. The limited run "
            "would not start, so nothing is run; run it where `campushub check` says CPU limits are enforceable."
        )
    names = [VICTIM, *plan.burner_names]
    accounts.SystemAccounts.require_absent([PREFIX + name for name in names])
    busy = busy_groups(names)
    if busy:
        raise errors.BenchError(
            f"Another CampusHub in this cgroup has servers of {', '.join(busy)} running (their cgroups "
            "users/<name> hold processes), and a CPU limit would be shared with them. Stop that hub first, "
            "then run it again."
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise errors.BenchError(
            f"The results file {out} cannot be written ({exc.strerror}). Choose another one with --out."
        ) from None


def busy_groups(names: Sequence[str]) -> list[str]:
    """Names whose `users/<name>` cpu group, beside this process's own cgroup, already holds processes."""
    own = cpu_group(os.getpid())
    if own is None:
        return []
    busy = []
    for name in names:
        with contextlib.suppress(OSError):
            if (own / "users" / name / "cgroup.procs").read_text().split():
                busy.append(name)
    return busy


def warm_up() -> None:
    """Read the servers' Python packages once, so the first run does not pay for a cold page cache alone."""
    subprocess.run(
        [str(hubs.VENV_BIN / "python"), "-c", "import jupyterhub.singleuser, jupyterlab, ipykernel, notebook_shim"],
        capture_output=True,
        timeout=120,
        check=False,
    )


def benchmark(args: argparse.Namespace, signals: Signals) -> int:
    plan = Plan(args.burners, args.processes, args.seconds, args.cpu_limit, args.interval)
    preflight(plan, args.out)
    started = datetime.now(UTC)
    owned = accounts.SystemAccounts()
    runs: dict[str, dict[str, Scenario]] = {}
    limits: dict[str, dict[str, object]] = {}
    try:
        warm_up()
        runs["no-limit"], limits["no-limit"] = run_hub(plan, None, owned, signals, args.out)
        runs["cpu-limit"], limits["cpu-limit"] = run_hub(plan, plan.cpu_limit, owned, signals, args.out)
    finally:
        signals.cleaning = True
        owned.remove_all()
        signals.done_cleaning()

    limit = f"cpu_limit={plan.cpu_limit:g}"
    who = "alice burns" if plan.burners == 1 else f"{plan.burners} burners"
    rows = [
        ("idle", runs["no-limit"]["idle"].summary()),
        (f"{who}, no limit", runs["no-limit"]["burn"].summary()),
        (f"{who}, {limit}", runs["cpu-limit"]["burn"].summary()),
    ]
    limited_idle = runs["cpu-limit"]["idle"].summary()
    document = {
        "benchmark": "noisy-neighbour",
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "plan": {
            "burners": plan.burner_names,
            "processes_per_burner": plan.processes,
            "seconds": plan.seconds,
            "cpu_limit": plan.cpu_limit,
            "interval_s": plan.interval_s,
            "warmup_s": WARMUP_S,
            "victim": VICTIM,
        },
        "environment": environment(),
        "limits_in_campus_yaml": limits,
        "scenarios": {title: summary for title, summary in rows},
        "idle_with_cpu_limit": limited_idle,
    }
    write_json(args.out, document)

    print()
    print(
        f"Noisy neighbour: {who} ({plan.processes} spinning processes each) for {plan.seconds:g} s while bob runs "
        f"1+1 every {plan.interval_s:g} s; {os.cpu_count()} CPUs"
    )
    print(table(rows, plan.burners))
    rtt = limited_idle["rtt_ms"]
    print(
        f"\nIdle again under {limit} (bob is held to it too): p50 {rtt['p50']} ms, p95 {rtt['p95']} ms, "
        f"max {rtt['max']} ms."
    )
    for title, summary in rows:
        others = summary["machine_busy_cores"] - summary["burners_cores_total"] - summary["bob_cores"]
        if title == "idle" and summary["machine_busy_cores"] > 0.3:
            print(
                f"Note: with nobody burning the machine was {summary['machine_busy_cores']:.2f} CPUs busy: other "
                "work ran meanwhile and is in every figure. Rerun on a quiet machine."
            )
        elif title != "idle" and others > 0.5:
            print(f"Note: during '{title}' {others:.2f} CPUs went to work other than the users' (hub, proxy, others).")
    for title, summary in rows:
        if summary["failures"]:
            print(f"Note: {summary['failures']} of bob's round trips failed during '{title}' (see the JSON).")
    print(f"\nResults: {args.out}")
    return 0


def say(paragraph: str) -> None:
    print("\n" + textwrap.fill(paragraph, width=100), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signals = Signals(threading.Event())
    signals.install()
    try:
        return benchmark(args, signals)
    except errors.BenchError as problem:
        say(f"The noisy-neighbour benchmark could not run. {problem}")
        return 1
    except Interrupted as interrupted:
        say(
            f"Interrupted ({interrupted}). The hubs, proxies and servers it started were stopped and the "
            "accounts it created were removed; no results were written."
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
