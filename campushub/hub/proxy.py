"""Locating the configurable-http-proxy that `make up` installs into the checkout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
PROXY_ENV = "CAMPUSHUB_PROXY"


def find_proxy() -> str | None:
    """The proxy executable: $CAMPUSHUB_PROXY if set (and only it), else the checkout's, else PATH's."""
    chosen = os.environ.get(PROXY_ENV)
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    bundled = CHECKOUT / "node_modules" / ".bin" / "configurable-http-proxy"
    if os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("configurable-http-proxy")
