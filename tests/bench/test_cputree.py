"""The benchmark's CPU split of a process tree: parts by ancestry and command line, nothing lost to short lives.

A synthetic tree stands in for a hub: a root that burns CPU itself, a long-lived "server" child (named by
its command line) with a "kernel" grandchild, and short-lived helpers that end between two samples. The
kernel's own accounting of the root (utime + stime + cutime + cstime, once it has waited for all of them)
is the truth the sampler's sum must match.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench import cputree, procfs

BURN = "import time\nend = time.process_time() + float(sys.argv[1])\nwhile time.process_time() < end: pass\n"

# The root: burns, runs five short helpers one after the other, runs a server that starts a kernel,
# waits for everything, then idles until killed (so its reaped CPU can be read while it lives). Each
# is a script of its own: a command line holds its role's marker, never another role's code.
ROOT = (
    """
import subprocess, sys, time
from pathlib import Path
here = Path(__file__).parent
"""
    + BURN.replace("sys.argv[1]", "0.2")
    + """
for _ in range(5):
    subprocess.run([sys.executable, str(here / "burn.py"), "0.06"])
subprocess.run([sys.executable, str(here / "server.py"), "singleuser"])
print("done", flush=True)
time.sleep(60)
"""
)
SERVER = (
    """
import os, subprocess, sys, time
from pathlib import Path
"""
    + BURN.replace("sys.argv[1]", "0.15")
    + """
kernel = subprocess.Popen([sys.executable, str(Path(__file__).parent / "burn.py"), "0.3", "ipykernel_launcher"])
# The kernel ends, and stays a zombie (no command line left) for a few samples before the server waits for it,
# as a busy server's would: its last moments are still the kernel's, not the server's.
os.waitid(os.P_PID, kernel.pid, os.WEXITED | os.WNOWAIT)
time.sleep(0.5)
kernel.wait()
time.sleep(0.3)  # a server outlives its kernel: the kernel's last moments are the kernel's
"""
)


def ticks_of(pid: int) -> int:
    reading = cputree.read_stat(pid)
    assert reading is not None
    return reading.total_ticks


def test_classify_by_ancestry_and_command_line():
    assert cputree.classify("python -m campushub.cli up", None) == cputree.SERVICES
    assert cputree.classify("python -m jupyterhub -f cfg.py", cputree.SERVICES) == cputree.HUB
    assert cputree.classify("node .../configurable-http-proxy --ip 127.0.0.1", cputree.HUB) == cputree.PROXY
    assert cputree.classify("python forkserver.py /run/fork.sock", cputree.SERVICES) == cputree.FORKSERVER
    assert cputree.classify("python forkserver.py /run/fork.sock", cputree.FORKSERVER) == cputree.SERVERS
    assert cputree.classify("python -m ipykernel_launcher -f k.json", cputree.SERVERS) == cputree.KERNELS
    assert cputree.classify("/bin/sh -c uname", cputree.SERVERS) == cputree.SERVERS
    assert cputree.classify("useradd bc-s001", cputree.HUB) == cputree.HUB
    assert cputree.classify("python -m campushub.courses.warmer", cputree.HUB) == cputree.SERVICES
    assert cputree.classify("jupyterhub-singleuser", cputree.HUB) == cputree.SERVERS


def test_split_adds_up_to_what_the_kernel_charged_the_tree(tmp_path: Path):
    (tmp_path / "root.py").write_text(ROOT)
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "burn.py").write_text("import sys\n" + BURN)
    root = subprocess.Popen(
        [sys.executable, str(tmp_path / "root.py"), "jupyterhub"], stdout=subprocess.PIPE, text=True
    )
    try:
        tree = cputree.TreeCpu(root.pid, interval_s=0.1)
        before = ticks_of(root.pid)  # what the root used before the baseline is not counted
        tree.start()
        baseline = tree.samples
        assert root.stdout is not None
        assert root.stdout.readline().strip() == "done"
        time.sleep(0.2)
        tree.stop()
        truth = ticks_of(root.pid) - before
    finally:
        root.kill()
        root.wait()

    assert baseline == 1 and tree.samples > 3
    seconds = tree.seconds()
    assert set(seconds) == set(cputree.PARTS)
    # Everything after the baseline is counted once: a tick or two apart, read a moment apart.
    assert abs(tree.total_s * procfs.CLOCK_TICKS - truth) <= 3, (
        tree.as_dict(),
        truth,
    )
    assert seconds[cputree.KERNELS] >= 0.3, tree.as_dict()
    assert seconds[cputree.SERVERS] >= 0.08, tree.as_dict()
    assert seconds[cputree.HUB] >= 0.3, tree.as_dict()  # its own burn and its five helpers
    assert seconds[cputree.PROXY] is None and seconds[cputree.FORKSERVER] is None  # parts it does not have
