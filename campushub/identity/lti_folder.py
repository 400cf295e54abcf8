"""~/courses/<id> for a person who launched a course from the LMS, made by the person's own account.

The hub runs as root and a home directory is its owner's to shape (`~/courses` could be a link to /etc), so
the hub never makes the folder itself there: it runs this file as the person (campushub.library.copy.as_the_person),
which makes the folder with only the person's rights. In personal mode the hub's own account owns the workspaces
and calls `make_course_folder` directly.

A whole class may launch at once, each first launch starting this process, so it imports only the standard
library and runs as a script with `python -I -S`: about 10 ms of CPU where `python -m` with CampusHub's
imports took about 50.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

COURSES_FOLDER = "courses"
COURSE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")  # also the ID of a course made for an LMS course


def make_course_folder(home: Path, course: str) -> Path:
    """~/courses/<course>, made if missing; a link or a file where a folder belongs is refused, never followed."""
    if not COURSE_ID.match(course):
        raise SystemExit(f"{course!r} is not a course ID")
    folder = home
    for step in (COURSES_FOLDER, course):
        folder = folder / step
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise SystemExit(f"~/{folder.relative_to(home)} is not a folder: rename it, then launch again")
        folder.mkdir(mode=0o755, exist_ok=True)
    return folder


def main() -> None:
    made = make_course_folder(Path.home(), sys.argv[1])
    print(made.relative_to(Path.home()))


if __name__ == "__main__":
    main()
