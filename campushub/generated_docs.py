"""Pages of docs/ generated from the code (the config and command references): written, or checked in `make test`.

A generated page is a view of the code, so a stale one is a test failure that says what to run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def stale_message(path: Path) -> str:
    """One line that says what to run, since `make test` prints it among many others."""
    return f"{path} is out of date: run `make docs`"


def generated_page_main(prog: str, description: str, render: Callable[[], str], argv: list[str] | None) -> int:
    """Write the page to OUT, or with --check exit 1 when OUT differs from what would be written."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("out", type=Path, metavar="OUT.md", help="The Markdown file to write or check.")
    parser.add_argument("--check", action="store_true", help="Only compare; exit 1 if OUT.md is out of date.")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        try:
            current = args.out.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            print(stale_message(args.out), file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0
