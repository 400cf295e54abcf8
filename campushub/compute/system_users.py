"""System accounts for campus users (the `local` backend running as root)."""

from __future__ import annotations

import os
import pwd
import subprocess
import threading
from collections.abc import Collection
from pathlib import Path

from campushub.compute.accounts_guard import MARKER, check_account

# useradd locks /etc/passwd; concurrent calls from one hub would fail instead of waiting.
_useradd_lock = threading.Lock()


class SystemUserError(RuntimeError):
    pass


def ensure_system_user(name: str, home: Path, adopt: Collection[str] = ()) -> pwd.struct_passwd:
    """Create `name` with a private home if it does not exist yet; never touch an existing one.

    An existing account is returned only if a server may run as it (accounts_guard); otherwise
    UnusableAccount, so that signing in with a campus name never hands over someone else's account.
    """
    with _useradd_lock:
        try:
            return check_account(pwd.getpwnam(name), adopt)
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
                MARKER,
                name,
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SystemUserError(f"useradd {name} failed: {result.stderr.strip()}")
        os.chmod(home, 0o700)
        return check_account(pwd.getpwnam(name), adopt)
