"""Per-hub figures from the raw per-student records, and CampusHub / stock ratios of them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import fmean

from bench import cputree
from bench.lecture import HubRun, in_user_group


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), so small samples still give a figure."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return fmean(present) if present else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def cpu_split(run: HubRun) -> dict:
    """The burst's CPU per student by part of the hub's process tree, and what the rest of the machine used.

    The parts add up to `hub_tree`; `hub_tree` and `rest_of_machine` add up to the machine figure
    (`rest_of_machine` is whatever else ran meanwhile, and can come out slightly below 0 as the
    two are read a moment apart).
    """
    tree, students = run.burst.tree, len(run.students)
    if tree is None:
        return {}
    parts = {part: _round(None if s is None else s / students, 3) for part, s in tree.seconds().items()}
    per_student_tree = tree.total_s / students
    return {
        **parts,
        "hub_tree": round(per_student_tree, 3),
        "rest_of_machine": round(run.burst.net_cpu_s / students - per_student_tree, 3),
    }


def summarize(run: HubRun) -> dict:
    completed = [record for record in run.students if record.ok]
    first = [record.first_result_s for record in completed if record.first_result_s is not None]
    rtts = [ms for record in run.students for ms in record.rtt_ms]
    burst = run.burst
    return {
        "students": len(run.students),
        "completed": len(completed),
        "failures": len(run.failures),
        "first_result_s": {
            "p50": _round(percentile(first, 50), 3),
            "p95": _round(percentile(first, 95), 3),
            "max": _round(max(first) if first else None, 3),
        },
        "server_cpu_s": _round(_mean([record.server_cpu_s for record in completed]), 3),
        "kernel_cpu_s": _round(_mean([record.kernel_cpu_s for record in completed]), 3),
        "machine_cpu_s_per_student": round(burst.net_cpu_s / len(run.students), 3),
        "cpu_s_per_student_by_part": cpu_split(run),
        "machine_cpu_s": round(burst.machine_cpu_s, 2),
        "benchmark_own_cpu_s": round(burst.own_cpu_s, 2),
        "burst_s": round(burst.elapsed_s, 2),
        "background_busy_cores": run.background.busy_cores,
        "pss_mib": _round(_mean([record.pss_mib for record in completed]), 1),
        "hub_pss_mib": _round(run.hub_pss_mib, 1),
        "hub_processes": run.hub_processes,
        "rtt_ms": {"p50": _round(percentile(rtts, 50), 2), "p95": _round(percentile(rtts, 95), 2)},
        "rtt_samples": len(rtts),
        "retries_429": sum(record.retries_429 for record in run.students),
        # Not a cost, so not in METRICS: whether the figures were taken with per-user limits, and proof that they
        # were enforced (servers found inside their user's cgroup), not only written in campus.yaml.
        "limits_on": run.limits.on,
        "servers_in_user_cgroups": sum(in_user_group(r.server_cgroups, r.hub_username) for r in completed),
        "processes_outside_user_cgroups": sum(r.outside_user_group or 0 for r in completed),
        "group_memory_mib": _round(_mean([r.group_memory_mib for r in completed]), 1),
        "cpu_throttled_s": _round(_mean([r.cpu_throttled_s for r in completed]), 3),
    }


# (label, unit, path into a summary); the table, the JSON ratios and the chart all use this order.
METRICS: list[tuple[str, str, tuple[str, ...]]] = [
    ("sign-in to first result p50", "s", ("first_result_s", "p50")),
    ("sign-in to first result p95", "s", ("first_result_s", "p95")),
    ("sign-in to first result max", "s", ("first_result_s", "max")),
    ("failures", "", ("failures",)),
    ("server CPU per spawn", "s", ("server_cpu_s",)),
    ("machine CPU per student", "s", ("machine_cpu_s_per_student",)),
    *[
        (f"  {cputree.PART_LABELS[part]}", "s", ("cpu_s_per_student_by_part", part))
        for part in (*cputree.PARTS, "rest_of_machine")
    ],
    ("PSS per idle user", "MiB", ("pss_mib",)),
    ("PSS of the hub's own processes", "MiB", ("hub_pss_mib",)),
    ("warm execute round trip p50", "ms", ("rtt_ms", "p50")),
    ("warm execute round trip p95", "ms", ("rtt_ms", "p95")),
]


def metric(summary: dict, path: tuple[str, ...]) -> float | None:
    value: object = summary
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, int | float) else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, 3)


def ratios(campushub: dict, stock: dict) -> dict[str, float | None]:
    """CampusHub / stock for every metric: below 1 is better for CampusHub (all of them are costs)."""
    return {
        ".".join(path): ratio(metric(campushub, path), metric(stock, path))
        for _label, _unit, path in METRICS
        if path != ("failures",)
    }
