"""System accounts for campus users (the `local` backend running as root)."""

from __future__ import annotations

import os
import pwd
import subprocess
import threading
from pathlib import Path

# useradd locks /etc/passwd; concurrent calls from one hub would fail instead of waiting.
_useradd_lock = threading.Lock()


class SystemUserError(RuntimeError):
    pass


def ensure_system_user(name: str, home: Path) -> pwd.struct_passwd:
    """Create `name` with a private home if it does not exist yet; never touch an existing one."""
    with _useradd_lock:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
        result = subprocess.run(
            [
                "useradd",
                "--create-home",
                "--home-dir",
                str(home),
                "--shell",
                "/bin/bash",
                "--user-group",
                "--comment",
                "CampusHub user",
                name,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SystemUserError(f"useradd {name} failed: {result.stderr.strip()}")
        os.chmod(home, 0o700)
        return pwd.getpwnam(name)
