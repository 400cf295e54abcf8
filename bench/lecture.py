"""The lecture-start scenario against one running hub: a burst of sign-ins, then idle, then warm executes.

Every student runs in a thread of its own, so all of them can wait on the hub at once, as a room of
browsers would; their start times are spread evenly over the window. Resource figures are read from
/proc at the moments bench/README.md names: a student's server CPU as soon as it got its result,
the machine's CPU from the first sign-in to the last result, memory after everyone has been idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from bench import cputree, measure
from bench.accounts import uid_of
from bench.hubs import Hub, LimitsState
from bench.students import Failure, SimulatedStudent, Stopped, StudentFailed
from campushub.compute.cgroups import USERS, Hierarchy
from campushub.compute.cgroups import detect as detect_cgroups


@dataclass(frozen=True)
class Plan:
    users: int
    window_s: float
    timeout_s: float
    settle_s: float
    idle_s: float
    rtt_students: int
    rtt_executes: int
    sample_interval_s: float = cputree.DEFAULT_INTERVAL_S

    def student_names(self) -> list[str]:
        return [f"s{index:03d}" for index in range(1, self.users + 1)]

    def offset(self, index: int) -> float:
        return index * self.window_s / self.users


@dataclass
class StudentRecord:
    """Everything measured for one student; None where the step it depends on failed."""

    student: str
    hub_username: str
    account: str
    planned_start_s: float
    started_s: float | None = None
    first_result_s: float | None = None
    steps_s: dict[str, float] = field(default_factory=dict)
    retries_429: int = 0
    failure: dict | None = None
    server_cpu_s: float | None = None
    kernel_cpu_s: float | None = None
    server_pids: list[int] = field(default_factory=list)
    server_found_by: str | None = None
    server_cgroups: dict[str, str] = field(default_factory=dict)  # controller -> group of the server process
    pss_mib: float | None = None
    pss_processes: int | None = None
    # With limits on, read with the PSS: the account's processes (server, kernels, what they started) outside its
    # user's cgroup; anything above 0 runs without the limits CampusHub was asked to enforce.
    outside_user_group: int | None = None
    group_memory_mib: float | None = None  # what the user's memory cgroup is charged, the figure its limit counts
    cpu_throttled_s: float | None = None  # time the user's group was held back by its CPU quota, burst and idle
    rtt_ms: list[float] = field(default_factory=list)
    warm_failure: dict | None = None

    @property
    def ok(self) -> bool:
        return self.first_result_s is not None and self.failure is None


@dataclass
class HubRun:
    label: str
    title: str
    url: str
    background: measure.Background
    burst: measure.MachineCpuWindow
    students: list[StudentRecord]
    failures: list[Failure]
    hub_pss_mib: float | None  # the hub's own processes, students' excluded, read with the students' PSS
    hub_processes: int | None
    limits: LimitsState


LIMIT_CONTROLLERS = ("memory", "cpu", "pids")


def process_cgroups(pid: int) -> dict[str, str]:
    """The groups a process is in for the controllers that enforce limits: the cgroup v1 ones where the machine
    has them, otherwise the v2 group (as `unified`). With limits on, a server must be in its user's group in each,
    or the limits were only configured, not enforced."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return {}
    v1: dict[str, str] = {}
    unified: dict[str, str] = {}
    for line in text.splitlines():
        _, names, path = line.split(":", 2)
        if names == "":
            unified["unified"] = path
        v1.update({name: path for name in names.split(",") if name in LIMIT_CONTROLLERS})
    return v1 or unified


def in_user_group(groups: dict[str, str], hub_username: str) -> bool:
    """Whether the server is in its user's group (`<CampusHub's cgroup>/users/<hub username>`) in every one."""
    return bool(groups) and all(path.endswith(f"/users/{hub_username}") for path in groups.values())


def read_fields(path: Path) -> dict[str, int]:
    """A cgroup file of `key value` lines (cpu.stat, memory.events) or a single number (as key "")."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        words = line.split()
        if len(words) == 1 and words[0].isdigit():
            found[""] = int(words[0])
        elif len(words) == 2 and words[1].isdigit():
            found[words[0]] = int(words[1])
    return found


def group_readings(hierarchies: dict[str, Hierarchy], hub_username: str) -> tuple[float | None, float | None]:
    """(MiB the user's memory group is charged, seconds its CPU quota held it back), from its own files.

    The charge is not the PSS: a page is charged to the group of the process that first touched it, so what a
    forked server shares with the fork server stays charged to CampusHub's group, and only what the user's
    processes wrote or loaded themselves counts against the user's limit.
    """
    memory_mib = throttled_s = None
    if "memory" in hierarchies:
        group = hierarchies["memory"].base / USERS / hub_username
        v2 = hierarchies["memory"].version == 2
        charged = read_fields(group / ("memory.current" if v2 else "memory.usage_in_bytes")).get("")
        memory_mib = None if charged is None else round(charged / (1 << 20), 2)
    if "cpu" in hierarchies:
        stat = read_fields(hierarchies["cpu"].base / USERS / hub_username / "cpu.stat")
        if "throttled_usec" in stat:
            throttled_s = stat["throttled_usec"] / 1e6
        elif "throttled_time" in stat:
            throttled_s = stat["throttled_time"] / 1e9
    return memory_mib, throttled_s


class _LastResult:
    """Stops the machine-CPU window the moment the last student has finished (result or failure)."""

    def __init__(self, count: int, window: measure.MachineCpuWindow) -> None:
        self._left = count
        self._window = window
        self._lock = threading.Lock()

    def finished(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self._window.stop()


class _KeepAlive:
    """Services every idle student's websocket once a second (pings), from the burst to the end."""

    def __init__(self, students: list[SimulatedStudent]) -> None:
        self._students = students
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keep-alive", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(1.0):
            for student in self._students:
                student.keep_alive()

    def __enter__(self) -> _KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def _burst(
    records: list[StudentRecord],
    students: list[SimulatedStudent],
    journey: Callable[[StudentRecord, SimulatedStudent, float], None],
    window: measure.MachineCpuWindow,
    stop: threading.Event,
) -> None:
    """Every student in a thread of its own, started on schedule; returns when the last one has finished."""
    pool = ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="student")
    window.start()
    burst_start = time.monotonic()
    futures = [
        pool.submit(journey, record, student, burst_start) for record, student in zip(records, students, strict=True)
    ]
    try:
        while wait(futures, timeout=0.5).not_done:
            pass
    except BaseException:
        # Interrupted: students give up at their next step; the caller stops the hub under the rest.
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    window.stop()


def run_lecture(hub: Hub, plan: Plan, password: str, stop: threading.Event) -> HubRun:
    names = plan.student_names()
    records = [
        StudentRecord(name, hub.hub_username(name), hub.account(name), round(plan.offset(index), 3))
        for index, name in enumerate(names)
    ]
    students = [SimulatedStudent(hub.url, record.hub_username, password, plan.timeout_s, stop) for record in records]
    failures: list[Failure] = []
    hub_pss_mib: float | None = None
    hub_processes: int | None = None
    background = measure.background_load(plan.settle_s)
    window = measure.MachineCpuWindow(
        tree=cputree.TreeCpu(hub.process.pid, plan.sample_interval_s) if hub.process is not None else None
    )
    last = _LastResult(len(records), window)

    def journey(record: StudentRecord, student: SimulatedStudent, burst_start: float) -> None:
        if stop.wait(max(0.0, burst_start + record.planned_start_s - time.monotonic())):
            return
        record.started_s = round(time.monotonic() - burst_start, 3)
        try:
            record.first_result_s = round(student.first_result(), 4)
        except StudentFailed as failed:
            record.failure = failed.failure.as_dict()
            failures.append(failed.failure)
        except Stopped:
            return
        except Exception as exc:  # a defect here must not hide the other students' figures
            failure = Failure(record.hub_username, "client", "error", "-", hub.url, f"{type(exc).__name__}: {exc}")
            record.failure = failure.as_dict()
            failures.append(failure)
        finally:
            record.steps_s = {step: round(seconds, 4) for step, seconds in student.steps.items()}
            record.retries_429 = student.retries_429
            last.finished()
        uid = uid_of(record.account)
        if record.ok and uid is not None:
            cpu = measure.server_cpu(uid)
            record.server_cpu_s = cpu.server_cpu_s
            record.kernel_cpu_s = cpu.kernel_cpu_s
            record.server_pids = cpu.server_pids
            record.server_found_by = cpu.found_by
            if cpu.server_pids:
                record.server_cgroups = process_cgroups(cpu.server_pids[0])

    with _KeepAlive(students):
        try:
            _burst(records, students, journey, window, stop)
            if stop.wait(plan.idle_s):
                raise Stopped
            hierarchies = detect_cgroups().usable if hub.limits.on else {}
            for record in records:
                uid = uid_of(record.account)
                if record.ok and uid is not None:
                    memory = measure.user_pss(uid)
                    record.pss_mib = round(memory.pss_mib, 2)
                    record.pss_processes = memory.processes
                    if hub.limits.on:
                        record.outside_user_group = sum(
                            not in_user_group(process_cgroups(process.pid), record.hub_username)
                            for process in measure.user_processes(uid)
                        )
                        record.group_memory_mib, record.cpu_throttled_s = group_readings(
                            hierarchies, record.hub_username
                        )
            uids = {uid for uid in (uid_of(record.account) for record in records) if uid is not None}
            if hub.process is not None:
                hub_memory = measure.tree_pss(hub.process.pid, uids)
                hub_pss_mib, hub_processes = round(hub_memory.pss_mib, 2), hub_memory.processes
            warm = [(r, s) for r, s in zip(records, students, strict=True) if r.ok][: plan.rtt_students]
            for record, student in warm:  # one student at a time: latency, not throughput
                try:
                    record.rtt_ms = [round(ms, 3) for ms in student.warm_round_trips(plan.rtt_executes)]
                except StudentFailed as failed:
                    record.warm_failure = failed.failure.as_dict()
                    failures.append(failed.failure)
        finally:
            if window.tree is not None:
                window.tree.stop()  # already stopped after a complete burst; this ends an interrupted one
            for student in students:
                student.close()
    return HubRun(
        hub.label, hub.title, hub.url, background, window, records, failures, hub_pss_mib, hub_processes, hub.limits
    )
