"""The results: a table on the terminal, a JSON file with every raw figure, a PNG chart beside it."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bench import cputree
from bench.lecture import HubRun
from bench.summary import METRICS, metric, ratio

MAX_LISTED_FAILURES = 5
HUB_COLOURS = {"campushub": "#1f77b4", "campushub-warmed": "#2ca02c", "stock": "#ff7f0e"}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:.2f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def table(summaries: Mapping[str, dict], titles: Mapping[str, str]) -> str:
    """Metrics down, hubs across, and CampusHub / stock last when both ran."""
    labels = list(summaries)
    both = {"campushub", "stock"} <= set(labels)
    header = ["metric", *(titles[label] for label in labels)] + (["CampusHub / stock"] if both else [])
    rows = [header]
    for name, unit, path in METRICS:
        row = [f"{name} ({unit})" if unit else name]
        row += [_fmt(metric(summaries[label], path), unit) for label in labels]
        if both:
            value = ratio(metric(summaries["campushub"], path), metric(summaries["stock"], path))
            row.append("-" if value is None or path == ("failures",) else f"{value:.2f}")
        rows.append(row)
    return aligned(rows)


def aligned(rows: list[list[str]]) -> str:
    """A plain-text table: the first row is the header, underlined; names left, figures right-aligned."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def failure_lines(runs: list[HubRun]) -> list[str]:
    lines = []
    for run in runs:
        for failure in run.failures[:MAX_LISTED_FAILURES]:
            detail = f" ({failure.detail[:120]})" if failure.detail else ""
            where = f"{failure.status} {failure.method} {failure.url}"
            lines.append(f"  {run.label}: {failure.student} {failure.step}: {where}{detail}")
        if len(run.failures) > MAX_LISTED_FAILURES:
            lines.append(f"  {run.label}: ... and {len(run.failures) - MAX_LISTED_FAILURES} more (all in the JSON)")
    return lines


def limits_lines(runs: list[HubRun], summaries: Mapping[str, dict]) -> list[str]:
    """Per hub, whether it ran with per-user limits: figures with and without them are not the same comparison."""
    lines = []
    for run in runs:
        line = f"  {run.title}: {run.limits.describe()}"
        if run.limits.on:
            summary = summaries[run.label]
            line += (
                f"; {summary['servers_in_user_cgroups']}/{summary['completed']} servers in their user's cgroup, "
                f"{summary['processes_outside_user_cgroups']} of the students' processes outside it; "
                f"charged to a user's memory group {_fmt(summary['group_memory_mib'], 'MiB')} MiB, "
                f"held back by the CPU quota {_fmt(summary['cpu_throttled_s'], 's')} s (means)"
            )
        lines.append(line)
    return lines


def run_document(run: HubRun, summary: dict, log: dict) -> dict:
    return {
        "title": run.title,
        "url": run.url,
        "limits": run.limits.as_dict(),
        "summary": summary,
        "burst": {
            "elapsed_s": round(run.burst.elapsed_s, 3),
            "machine_cpu_s": round(run.burst.machine_cpu_s, 3),
            "benchmark_own_cpu_s": round(run.burst.own_cpu_s, 3),
            "net_cpu_s": round(run.burst.net_cpu_s, 3),
            "hub_tree": run.burst.tree.as_dict() if run.burst.tree is not None else None,
        },
        "background_before_burst": asdict(run.background),
        "students": [{**asdict(record), "ok": record.ok} for record in run.students],
        "failures": [failure.as_dict() for failure in run.failures],
        "log": log,
    }


def write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


def write_chart(path: Path, runs: list[HubRun], summaries: Mapping[str, dict]) -> None:
    """CDF of sign-in-to-first-result per hub, and bars for CPU, memory and warm round trips."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    cdf, cpu, memory, rtt = axes[0][0], axes[0][1], axes[1][0], axes[1][1]
    labels = [run.label for run in runs]
    titles = {run.label: run.title for run in runs}
    colours = [HUB_COLOURS.get(label, "grey") for label in labels]

    for run in runs:
        times = sorted(r.first_result_s for r in run.students if r.ok and r.first_result_s is not None)
        if times:
            share = [(index + 1) / len(run.students) for index in range(len(times))]
            cdf.step(times, share, where="post", label=run.title, color=HUB_COLOURS.get(run.label, "grey"))
    cdf.set(title="Sign-in to first result", xlabel="seconds", ylabel="share of students", ylim=(0, 1.02))
    cdf.set_xlim(left=0)
    cdf.grid(alpha=0.3)
    cdf.legend(loc="lower right")

    def grouped(ax, paths: list[tuple[str, tuple[str, ...]]], title: str, unit: str) -> None:
        width = 0.8 / max(1, len(labels))
        for offset, label in enumerate(labels):
            values = [metric(summaries[label], path) or 0.0 for _name, path in paths]
            positions = [index + (offset - (len(labels) - 1) / 2) * width for index in range(len(paths))]
            bars = ax.bar(positions, values, width, label=titles[label], color=colours[offset])
            ax.bar_label(bars, fmt="%.3g", fontsize=8)
        ax.set_xticks(range(len(paths)), [name for name, _path in paths])
        ax.set(title=title, ylabel=unit)
        ax.set_ylim(top=ax.get_ylim()[1] * 1.25)  # room for the legend above the bars
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left")

    stacked_cpu(cpu, labels, titles, summaries)
    grouped(
        memory,
        [("per idle user (server + kernel)", ("pss_mib",)), ("hub's own processes, total", ("hub_pss_mib",))],
        "Memory (PSS)",
        "MiB",
    )
    grouped(rtt, [("p50", ("rtt_ms", "p50")), ("p95", ("rtt_ms", "p95"))], "Warm execute round trip", "ms")
    students = max(len(run.students) for run in runs)
    limited = [run.title for run in runs if run.limits.on]
    with_limits = f"; per-user limits on for {', '.join(limited)}" if limited else "; no per-user limits"
    figure.suptitle(f"Lecture start: {students} students{with_limits}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def stacked_cpu(ax, labels: list[str], titles: Mapping[str, str], summaries: Mapping[str, dict]) -> None:
    """One bar per hub, as tall as the machine CPU per student, split into the parts of the hub's tree."""
    parts = [*cputree.PARTS, "rest_of_machine"]
    colours = dict(
        zip(parts, ("#4c72b0", "#dd8452", "#937860", "#55a868", "#c44e52", "#8172b3", "#bbbbbb"), strict=True)
    )
    for index, label in enumerate(labels):
        split = summaries[label].get("cpu_s_per_student_by_part") or {}
        bottom = 0.0
        for part in parts:
            value = max(0.0, split.get(part) or 0.0)
            name = part.replace("_", " ")
            ax.bar(index, value, 0.6, bottom=bottom, color=colours[part], label=name if index == 0 else None)
            bottom += value
        total = metric(summaries[label], ("machine_cpu_s_per_student",))
        if total is not None:
            ax.annotate(f"{total:.3g}", (index, bottom), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), [titles[label] for label in labels])
    ax.set(title="Machine CPU per student, by part", ylabel="CPU seconds")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def environment(repo: Path) -> dict:
    """What the figures depend on besides the hubs: the machine and the versions under test."""

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    memory_kib = None
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    proxy_package = repo / "node_modules" / "configurable-http-proxy" / "package.json"
    proxy_version = json.loads(proxy_package.read_text()).get("version") if proxy_package.exists() else None
    return {
        "cpus": os.cpu_count(),
        "memory_mib": memory_kib // 1024 if memory_kib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            "campushub": installed("campushub"),
            "jupyterhub": installed("jupyterhub"),
            "jupyter_server": installed("jupyter_server"),
            "jupyterlab": installed("jupyterlab"),
            "ipykernel": installed("ipykernel"),
            "configurable-http-proxy": proxy_version,
        },
    }


def log_findings(text: str, limit: int = 10) -> dict:
    """Error-level lines and tracebacks in a hub's log, so that a quiet failure does not go unseen."""
    markers = ("[E ", "[C ", "Traceback", "ERROR", "CRITICAL")
    expected = "Received signal SIGTERM"  # the benchmark stopping the hub, logged at critical level
    lines = [
        line.rstrip()
        for line in text.splitlines()
        if any(marker in line for marker in markers) and expected not in line
    ]
    warnings = [line for line in text.splitlines() if line.startswith("[W ")]
    return {"error_lines": len(lines), "first_errors": lines[:limit], "warning_lines": len(warnings)}
