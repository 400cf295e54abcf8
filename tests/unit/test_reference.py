"""The config reference and the annotated example stay in step with the schema."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from campushub.config import reference
from campushub.config.loader import parse_config
from campushub.config.reference import render, walk
from campushub.config.schema import CampusConfig

CHECKOUT = Path(__file__).resolve().parents[2]
REFERENCE = CHECKOUT / "docs" / "config-reference.md"
EXAMPLE = CHECKOUT / "campushub" / "config" / "campus.example.yaml"

# `key:` at the start of a line, active or commented out (`  # key: value`); the indentation gives the nesting.
# Inside a commented-out block (`  #   key:`), the spaces after the first one behind `#` count as indentation too.
_KEY_LINE = re.compile(r"^(?P<indent> *)(?:#(?P<inner> *))?(?P<key>[a-z][a-z0-9_-]*):(?:\s|$)")

SCHEMA_PATHS = [key.path for key in walk(CampusConfig)]


NAMED_SECTIONS = {"oidc", "saml", "lti", "courses", "profiles"}


def example_key_paths(text: str) -> set[str]:
    """Dotted paths of every key the example shows, whether active or commented out."""
    paths: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"]) + max(0, len(match["inner"] or "") - 1)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        names = [name for _, name in stack]
        # Under `oidc`, `saml`, `courses` and `profiles` the admin names each entry (the schema: `<name>`).
        names = [
            ("<name>" if index and names[index - 1] in NAMED_SECTIONS else name) for index, name in enumerate(names)
        ]
        paths.add(".".join(names))
    return paths


def test_reference_is_up_to_date() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render(), "docs/config-reference.md is out of date: run `make docs`"


def test_reference_names_every_key() -> None:
    text = render()
    for path in SCHEMA_PATHS:
        assert f"`{path}`" in text or f"`{path}.<name>`" in text


@pytest.mark.parametrize("path", SCHEMA_PATHS)
def test_example_shows_every_key(path: str) -> None:
    assert path in example_key_paths(EXAMPLE.read_text(encoding="utf-8")), (
        f"campus.example.yaml does not show `{path}`, not even as a commented `# {path.rsplit('.', 1)[-1]}:` line"
    )


def test_example_key_paths_follow_indentation() -> None:
    text = "listen:\n  ip: 1\n  # tls_cert: x\n# Where: prose\ncompute:\n  local:\n    # user_prefix: nb-\n"
    assert example_key_paths(text) == {
        "listen",
        "listen.ip",
        "listen.tls_cert",
        "compute",
        "compute.local",
        "compute.local.user_prefix",
    }


def test_example_validates() -> None:
    assert isinstance(parse_config(EXAMPLE.read_text(encoding="utf-8"), "campus.example.yaml"), CampusConfig)


def test_type_words_are_plain() -> None:
    fields = {key.path: key.field for key in walk(CampusConfig)}
    signup = fields["sign_in.local.signup"]
    lockout = fields["sign_in.local.lockout"]
    assert reference.type_words(signup.annotation) == "one of `closed`, `approval`, `invite`, `open`"
    assert reference.type_words(lockout.annotation, reference.is_duration(lockout)) == "duration"
    assert reference.type_words(fields["listen.tls_cert"].annotation) == "path, or empty"
    assert reference.type_words(fields["admins"].annotation) == "list of strings"
    assert reference.default_words(lockout) == "`300` (5m)"
    assert reference.constraint_words(fields["listen.port"]) == ["at least 1", "at most 65535"]


def test_check_passes_on_a_fresh_file_and_fails_on_a_stale_one(tmp_path: Path, capsys) -> None:
    out = tmp_path / "config-reference.md"
    assert reference.main(["--check", str(out)]) == 1
    assert reference.main([str(out)]) == 0
    assert reference.main(["--check", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")
    assert reference.main(["--check", str(out)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"{out} is out of date: run `make docs`"
