"""The effective configuration: what `campushub up` validated, handed to the hub and every service as one file.

campus.yaml is read once, by `up`: its `${ENV}` references expanded, its paths made absolute and the
`--ip/--port` overrides applied. The result is written to `Layout.snapshot_file`, and the hub and its
services read that file, so that they all run with exactly the configuration `up` checked, whatever
happens to campus.yaml or the environment meanwhile. Only the file's path travels, in
$CAMPUSHUB_SNAPSHOT. It holds secrets (directory bind passwords, client secrets), hence mode 0600 in
the private secrets directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from campushub.config.schema import CampusConfig
from campushub.errors import UserError

if TYPE_CHECKING:
    from campushub.hub.layout import Layout

SNAPSHOT_ENV = "CAMPUSHUB_SNAPSHOT"


def snapshot_path() -> Path:
    """Where the hub and its services find the snapshot: $CAMPUSHUB_SNAPSHOT, which `campushub up` sets."""
    value = os.environ.get(SNAPSHOT_ENV)
    if not value:
        raise UserError(f"${SNAPSHOT_ENV} is not set: start CampusHub with `campushub up`, which sets it.")
    return Path(value)


def snapshot_data(config: CampusConfig) -> dict[str, Any]:
    """Plain JSON data that validates back to `config`.

    None values are left out: campus.yaml's schema reads an empty key as "on, with the defaults"
    (`local:` enables built-in accounts), so a dumped `ldap: null` would come back as a directory to use.
    """
    return config.model_dump(mode="json", exclude_none=True)


def write_snapshot(config: CampusConfig, layout: Layout) -> Path:
    """Replace the snapshot at once (readers never see half a file), readable by CampusHub's own account only."""
    path = layout.snapshot_file
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(snapshot_data(config), out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_snapshot(path: str | Path) -> CampusConfig:
    """The configuration `up` wrote; a UserError when there is none to read (CampusHub was not started)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return CampusConfig.model_validate(data)
    except FileNotFoundError:
        raise UserError(f"{path}: no effective configuration yet. Run `campushub up` to write it.") from None
    except OSError as exc:
        raise UserError(
            f"{path}: cannot be read ({exc.strerror}); run this command as the account that runs CampusHub."
        ) from None
    except (ValueError, ValidationError) as exc:
        raise UserError(
            f"{path}: the effective configuration is damaged ({_first_problem(exc)}). "
            "Run `campushub up` to write it again."
        ) from None


def _first_problem(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"
    return str(exc)
