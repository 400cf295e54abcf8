"""The two steps of a launch's build that touch the person's files, run as the person's own account.

The library runs as root and a clone is its owner's to shape: `requirements.txt` could be a link to
/etc/shadow, whose lines a failed build's log would then show. So the spec is read, and the notebooks'
kernel set, by this module running with only the person's rights (campushub.library.copy.as_the_person):

    python -m campushub.environments.workspace spec FOLDER
        prints {"name": ..., "text": ...} for the first of SPEC_FILES that is a plain file, or {}
    python -m campushub.environments.workspace use-kernel FOLDER NAME DISPLAY_NAME
        points every notebook under FOLDER at kernel NAME (metadata.kernelspec); prints how many changed
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from campushub.environments.spec import MAX_SPEC_BYTES, SPEC_FILES

MAX_NOTEBOOK_BYTES = 50 * 1024**2


def read_plain_file(path: Path, limit: int) -> str | None:
    """The text of `path` if it is a regular file (not a link) of at most `limit` bytes, else None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        return handle.read(limit + 1).decode("utf-8", errors="replace")


def find_spec(folder: Path) -> dict[str, str]:
    for name in SPEC_FILES:
        text = read_plain_file(folder / name, MAX_SPEC_BYTES)
        if text is not None:
            return {"name": name, "text": text}
    return {}


def use_kernel(folder: Path, name: str, display_name: str) -> int:
    """Set the kernel of each notebook under `folder` (links and hidden folders left alone); how many changed."""
    changed = 0
    for notebook in sorted(folder.rglob("*.ipynb")):
        if any(part.startswith(".") for part in notebook.relative_to(folder).parts):
            continue
        text = read_plain_file(notebook, MAX_NOTEBOOK_BYTES)  # a link is not followed (it runs as the person anyway)
        if text is None:
            continue
        try:
            document = json.loads(text)
        except ValueError:
            continue
        metadata = document.setdefault("metadata", {}) if isinstance(document, dict) else None
        if not isinstance(metadata, dict):
            continue
        wanted = {"name": name, "display_name": display_name, "language": "python"}
        if metadata.get("kernelspec") == wanted:
            continue
        metadata["kernelspec"] = wanted
        notebook.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        changed += 1
    return changed


def main() -> None:
    command, folder = sys.argv[1], Path.home() / sys.argv[2]
    if command == "spec":
        print(json.dumps(find_spec(folder)))
    elif command == "use-kernel":
        print(use_kernel(folder, sys.argv[3], sys.argv[4]))
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
