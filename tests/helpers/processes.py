"""Stopping the daemons test components start."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (the daemon closes cleanly), SIGKILL if it is still there after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def thread_states(pid: int) -> list[str]:
    """Each thread's state and kernel wait channel: which one waits on what when the main one sleeps on a lock."""
    states = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*"), key=lambda path: int(path.name)):
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            wchan = (task / "wchan").read_text() or "-"
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue
        states.append(f"{task.name} {comm} {state} {wchan}")
    return states


def stall_report(process: subprocess.Popen[bytes]) -> str:
    """What the machine and a daemon that never got ready were doing: enough to tell a busy machine from a hang.

    The daemon's own state and kernel wait channel say whether it ran, slept or waited on I/O; the load
    average and the busiest processes say whether something else had the CPUs.
    """
    lines = [f"load average: {' '.join(f'{load:.2f}' for load in os.getloadavg())}"]
    for name in ("status", "wchan"):
        try:
            text = Path(f"/proc/{process.pid}/{name}").read_text()
        except OSError as error:
            text = f"unreadable ({error.strerror})"
        if name == "status":
            text = " ".join(line for line in text.splitlines() if line.startswith(("State:", "VmRSS:", "Threads:")))
        lines.append(f"daemon {process.pid} {name}: {text}")
    lines.append(f"daemon {process.pid} threads (tid state wchan): {' | '.join(thread_states(process.pid))}")
    busiest = subprocess.run(
        ["ps", "-eo", "pid,stat,pcpu,rss,etimes,args", "--sort=-pcpu", "--cols", "160"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()[:12]
    lines.append("busiest processes:")
    lines.extend(busiest)
    return "\n".join(lines)
