"""Locating the configurable-http-proxy that `make up` installs into the checkout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
PROXY_ENV = "CAMPUSHUB_PROXY"


def find_proxy() -> str | None:
    """The proxy executable: $CAMPUSHUB_PROXY, the checkout's node_modules, or one on PATH."""
    candidates = [
        os.environ.get(PROXY_ENV, ""),
        str(CHECKOUT / "node_modules" / ".bin" / "configurable-http-proxy"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("configurable-http-proxy")
