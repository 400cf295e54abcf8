"""The test suite's own layout: shared code lives in tests/helpers and tests/components, nowhere else.

A test module that imports from conftest.py or from another test module ties the two together: moving,
renaming or skipping one breaks the other, and pytest may import a module twice under two names.
So every module under tests/ may import from tests.helpers and tests.components, and nothing else
of the test suite; fixtures reach tests through conftest.py, never by import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SHARED = ("tests.helpers", "tests.components")


def modules() -> list[Path]:
    """Every Python file of the suite (not the node packages a component installs)."""
    return sorted(path for path in TESTS.rglob("*.py") if "node_modules" not in path.parts)


def package_of(path: Path) -> str:
    """The dotted package a file of the suite belongs to: tests/integration/x.py -> tests.integration."""
    return ".".join(path.relative_to(TESTS.parent).parent.parts)


def imported_names(source: str, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of everything `source` imports, at any depth, relative imports made absolute.

    `from a.b import c` counts as importing `a.b.c`: c may be a module (`from tests.integration import
    test_servers`) as well as a name in one.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def offence(name: str) -> str | None:
    """Why importing `name` is not allowed in the test suite, or None when it is.

    Besides `tests.…`, a bare `conftest` or `test_…` counts: pytest puts test directories on sys.path.
    """
    parts = name.split(".")
    suite = parts if parts[0] == "tests" else parts[:1]
    if "conftest" in suite:
        return "imports conftest.py (fixtures reach tests by name, not by import)"
    if any(part.startswith("test_") for part in suite):
        return "imports a test module (move what it shares to tests/helpers)"
    if parts[0] == "tests" and not name.startswith(tuple(f"{shared}." for shared in SHARED)):
        return "imports from the test suite outside tests.helpers and tests.components"
    return None


def layout_problems(path: Path) -> list[str]:
    relative = path.relative_to(TESTS.parent)
    return [
        f"{relative}:{line}: `{name}` {reason}"
        for line, name in imported_names(path.read_text(), package_of(path))
        if (reason := offence(name)) is not None
    ]


def test_the_suite_has_modules_to_check() -> None:
    names = {path.name for path in modules()}
    assert {"conftest.py", "test_test_layout.py", "hub.py"} <= names


def test_no_module_of_the_suite_imports_conftest_or_a_test_module() -> None:
    problems = [problem for path in modules() for problem in layout_problems(path)]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("from tests.conftest import ADMIN_PASSWORD", "conftest"),
        ("import tests.conftest", "conftest"),
        ("from tests.integration.test_servers import running_student", "test module"),
        ("from tests.integration import test_servers", "test module"),
        ("from .test_signup import sign_up", "test module"),
        ("from . import conftest", "conftest"),
        ("from tests.unit.eventloop import run_alone", "outside tests.helpers"),
        ("from tests import hubclient", "outside tests.helpers"),
        ("def later():\n    from tests.integration.test_oidc_sign_in import me", "test module"),
        ("from test_servers import PASSWORD", "test module"),
        ("import conftest", "conftest"),
    ],
)
def test_the_check_catches_each_kind_of_import(source: str, reason: str) -> None:
    problems = [offence(name) for _, name in imported_names(source, "tests.integration")]
    assert problems[0] is not None and reason in problems[0], (source, problems)


@pytest.mark.parametrize(
    "source",
    [
        "from tests.helpers.hub import Campus",
        "from tests.helpers import oidc_people",
        "from tests.components.slapd import Directory",
        "from bench.ports import free_port_block",
        "from campushub.identity.accounts import AccountStore",
        "import pytest",
        "from requests.adapters import HTTPAdapter",
    ],
)
def test_the_check_lets_shared_code_through(source: str) -> None:
    assert [offence(name) for _, name in imported_names(source, "tests.integration")] == [None]
