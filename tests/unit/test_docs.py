"""The docs are tested like code: every campus.yaml example in them loads with the real loader, every `campushub`
command line they show exists, every link between pages lands, and the generated references are up to date.

A ```yaml block that is not a campus.yaml (or a part of one) says so right before it, with its reason:

    <!-- not campus.yaml: values file for Helm -->

Every other ```yaml block must load on its own as a campus.yaml, fragments (a `sign_in:` section alone) included.
"""

from __future__ import annotations

import contextlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from campushub import cli_reference
from campushub.cli import cli
from campushub.config import reference
from campushub.config.loader import parse_config
from campushub.config.reference import anchor
from campushub.errors import UserError

CHECKOUT = Path(__file__).resolve().parents[2]
DOCS = CHECKOUT / "docs"
PAGES = [*sorted(DOCS.rglob("*.md")), CHECKOUT / "README.md"]

YAML_LANGUAGES = {"yaml", "yml"}
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})\s*(?P<lang>[\w+-]*)[^`]*$")
_SKIP_MARK = re.compile(r"^\s*<!--\s*not campus\.yaml:(?P<reason>.*?)-->\s*$")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PROMPT = re.compile(r"^[$#] ")
_OPERATORS = {"|", "||", "&", "&&", ";", ";;", "(", ")"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_REDIRECTION = re.compile(r"(?<!\S)\d*(?:&>>?|>>?|<|>&|<&)\s*(?:&?\d+\b|[^\s;&|]+)")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\((?P<target><[^>]*>|[^()\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1", re.S)
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(?P<text>.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"(?P<name>[^\"]+)\"")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it is, its language, its text (without the fences) and its skip mark if any."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip_reason: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(CHECKOUT)}:{self.line}"


def fenced_blocks(page: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown page, with the `<!-- not campus.yaml: ... -->` mark right before it."""
    lines = (page.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.match(rf"^ *{fence}`*\s*$", lines[end]):
            body.append(re.sub(rf"^ {{0,{indent}}}", "", lines[end]))
            end += 1
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        mark = _SKIP_MARK.match(previous)
        reason = mark["reason"].strip() if mark else None
        blocks.append(Block(page, index + 1, opening["lang"].lower(), "\n".join(body) + "\n", reason))
        index = end + 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in fenced_blocks(page)]
YAML_BLOCKS = [block for block in ALL_BLOCKS if block.lang in YAML_LANGUAGES]
CAMPUS_YAML_BLOCKS = [block for block in YAML_BLOCKS if block.skip_reason is None]


# campus.yaml examples


def load_example(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the block with the loader `campushub` uses, errors naming the page's own line."""
    for name in _ENV_REFERENCE.findall(block.text):
        monkeypatch.setenv(name, f"dummy-{name.lower()}")
    # Blank lines in front, so that the loader's `file:line` is the line in the page.
    parse_config("\n" * block.line + block.text, str(block.page.relative_to(CHECKOUT)))


def test_the_docs_have_campus_yaml_examples() -> None:
    assert len(CAMPUS_YAML_BLOCKS) >= 10, [block.where for block in YAML_BLOCKS]


@pytest.mark.parametrize("block", CAMPUS_YAML_BLOCKS, ids=lambda block: block.where)
def test_campus_yaml_example_loads(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    problem = None
    try:
        load_example(block, monkeypatch)
    except UserError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"the example at {block.where} is not a valid campus.yaml: {problem}", pytrace=False)


def test_skip_marks_are_rare_and_say_why() -> None:
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        marked = {block.line for block in fenced_blocks(page) if block.skip_reason is not None}
        for number, line in enumerate(lines, start=1):
            mark = _SKIP_MARK.match(line)
            if not mark:
                continue
            where = f"{page.relative_to(CHECKOUT)}:{number}"
            assert mark["reason"].strip(), f"{where}: say why the block is not a campus.yaml"
            following = next((n for n in range(number + 1, len(lines) + 1) if lines[n - 1].strip()), None)
            assert following in marked, f"{where}: the mark must come right before the block it exempts"
            block = next(block for block in fenced_blocks(page) if block.line == following)
            assert block.lang in YAML_LANGUAGES, f"{where}: only ```yaml blocks are loaded, nothing to exempt"
    assert len(YAML_BLOCKS) - len(CAMPUS_YAML_BLOCKS) <= 3, "more than a few exempted ```yaml blocks"


def test_a_wrong_example_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    page = DOCS / "example.md"
    text = "Text.\n\n```yaml\nsign_in:\n  ldap:\n    url: ldaps://ldap.example.edu\n    serach: {}\n```\n"
    (block,) = fenced_blocks(page, text)
    with pytest.raises(UserError, match=r"docs/example.md:7: unknown key `sign_in.ldap.serach`"):
        load_example(block, monkeypatch)


def test_an_example_with_a_secret_from_the_environment_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "```yaml\ndatabase:\n  url: ${CAMPUSHUB_TEST_DOCS_URL}\n```\n"
    (block,) = fenced_blocks(DOCS / "example.md", text)
    monkeypatch.delenv("CAMPUSHUB_TEST_DOCS_URL", raising=False)
    load_example(block, monkeypatch)


def test_a_marked_block_is_not_loaded() -> None:
    text = "<!-- not campus.yaml: values file for Helm -->\n\n```yaml\nreplicas: 2\n```\n"
    (block,) = fenced_blocks(DOCS / "example.md", text)
    assert block.skip_reason == "values file for Helm"


# `campushub` command lines


@dataclass(frozen=True)
class CommandLine:
    where: str
    args: tuple[str, ...]  # the words after `campushub`

    def __str__(self) -> str:
        return shlex.join(("campushub", *self.args))


def shell_lines(block: Block) -> list[str]:
    """The command lines of a shell block: every line (continuations joined), or in a console only prompted ones."""
    lines: list[str] = []
    pending = ""
    for line in block.text.splitlines():
        if block.lang == "console" and not pending:
            if not _PROMPT.match(line):
                continue
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return [line for line in lines if line.strip()]


def simple_commands(line: str) -> list[list[str]]:
    """`a | b && c; d` -> the words of a, b, c and d, comments and redirections (`> file`, `2>&1`) dropped."""
    lexer = shlex.shlex(_REDIRECTION.sub(" ", line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in _OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


def campushub_commands(block: Block) -> list[CommandLine]:
    found = []
    for line in shell_lines(block):
        for words in simple_commands(line):
            while words and (_ASSIGNMENT.match(words[0]) or words[0] == "sudo"):
                words = words[1:]
            if words and Path(words[0]).name == "campushub":
                found.append(CommandLine(block.where, tuple(words[1:])))
    return found


COMMAND_LINES = [
    command for block in ALL_BLOCKS if block.lang in SHELL_LANGUAGES for command in campushub_commands(block)
]


def check_command_line(args: tuple[str, ...]) -> None:
    """Walk the click groups to the command the words name, then let click parse its options and arguments.

    Raises click.UsageError (unknown command or option, a missing or malformed value) like `campushub` would.
    """
    command: click.Command = cli
    context = click.Context(cli, info_name="campushub")
    words = list(args)
    while isinstance(command, click.Group):
        if not words:
            raise click.UsageError(f"`{context.command_path}` is a group: name one of its commands", context)
        word = words.pop(0)
        if word.startswith("-"):
            names = {name for param in command.get_params(context) for name in param.opts + param.secondary_opts}
            if word not in names:
                raise click.NoSuchOption(word, ctx=context)
            return  # --help or --version: prints and exits
        sub = command.get_command(context, word)
        if sub is None:
            raise click.UsageError(f"no command `{word}` in `{context.command_path}`", context)
        command, context = sub, click.Context(sub, info_name=word, parent=context)
    with contextlib.suppress(click.exceptions.Exit):  # --help prints and exits
        command.make_context(context.info_name or "", words, parent=context.parent)


def test_the_docs_show_campushub_commands() -> None:
    assert len(COMMAND_LINES) >= 10, [str(command) for command in COMMAND_LINES]


@pytest.mark.parametrize("command", COMMAND_LINES, ids=lambda command: f"{command.where} {command}")
def test_command_line_exists(command: CommandLine) -> None:
    problem = None
    try:
        check_command_line(command.args)
    except click.UsageError as exc:
        problem = exc.format_message()
    if problem:
        pytest.fail(f"{command.where}: `{command}`: {problem}", pytrace=False)


@pytest.mark.parametrize(
    "line",
    [
        "campushub users add --pasword-stdin alice",
        "campushub users delete alice",
        "campushub up --port eighty",
        "campushub users",
        ".venv/bin/campushub token --scopes read:users",
    ],
)
def test_a_wrong_command_line_fails(line: str) -> None:
    (block,) = fenced_blocks(DOCS / "example.md", f"```sh\n{line}\n```\n")
    (command,) = campushub_commands(block)
    with pytest.raises(click.UsageError):
        check_command_line(command.args)


def test_command_lines_are_found_in_pipes_prompts_and_continuations() -> None:
    text = (
        "```console\n$ printf '%s\\n' pw | sudo .venv/bin/campushub users add --password-stdin \\\n"
        "    carol\ncarol\tcreated\n```\n\n"
        "```sh\nread -rs X && export X  # a comment: campushub up\nCAMPUSHUB_X=1 campushub check && make up\n"
        "campushub logs alice -n 5 > alice.log 2>&1\n```\n"
    )
    found = [command for block in fenced_blocks(DOCS / "example.md", text) for command in campushub_commands(block)]
    assert [command.args for command in found] == [
        ("users", "add", "--password-stdin", "carol"),
        ("check",),
        ("logs", "alice", "-n", "5"),
    ]


# Links between pages


def without_fenced_blocks(text: str) -> str:
    """The page with its fenced blocks blanked out (line numbers kept): a `#` line there is no heading."""
    lines = text.splitlines()
    for block in fenced_blocks(Path("page.md"), text):
        end = block.line + block.text.count("\n")
        for number in range(block.line - 1, min(end + 1, len(lines))):
            lines[number] = ""
    return "\n".join(lines)


def without_code(text: str) -> str:
    """The page with fenced blocks and code spans blanked out: links there are examples, not links."""
    return _CODE_SPAN.sub(lambda match: " " * len(match.group(0)), without_fenced_blocks(text))


def anchors(page: Path) -> set[str]:
    """The anchors a forge makes for a page's headings (`-1`, `-2` for repeats), and explicit `<a id>`s."""
    text = without_fenced_blocks(page.read_text(encoding="utf-8"))
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            slug = anchor(re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading["text"]))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    original = page.read_text(encoding="utf-8")
    found.update(match["name"] for match in _HTML_ANCHOR.finditer(original))
    return found


def link_problems(page: Path, text: str | None = None) -> list[str]:
    """Every relative link of the page whose file, or whose anchor in a Markdown file, does not exist."""
    text = page.read_text(encoding="utf-8") if text is None else text
    problems = []
    for match in _LINK.finditer(without_code(text)):
        target = match["target"].strip("<>")
        if _SCHEME.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        line = text.count("\n", 0, match.start()) + 1
        where = f"{page.relative_to(CHECKOUT)}:{line}"
        if not destination.exists():
            problems.append(f"{where}: `{target}`: no such file")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            problems.append(f"{where}: `{target}`: no heading with the anchor `#{fragment}`")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(CHECKOUT)))
def test_links_land(page: Path) -> None:
    problems = link_problems(page)
    assert not problems, "\n".join(problems)


def test_a_broken_link_is_found() -> None:
    page = DOCS / "example.md"
    text = "[ok](install.md#ports) [gone](nowhere.md) [`bad`](install.md#no-such-part) `[code](nowhere.md)`\n"
    assert link_problems(page, text) == [
        "docs/example.md:1: `nowhere.md`: no such file",
        "docs/example.md:1: `install.md#no-such-part`: no heading with the anchor `#no-such-part`",
    ]


# Generated references


def test_config_reference_is_up_to_date() -> None:
    current = (DOCS / "config-reference.md").read_text(encoding="utf-8")
    assert current == reference.render(), "docs/config-reference.md is out of date: run `make docs`"


def test_cli_reference_is_up_to_date() -> None:
    current = (DOCS / "cli-reference.md").read_text(encoding="utf-8")
    assert current == cli_reference.render(), "docs/cli-reference.md is out of date: run `make docs`"


def test_cli_reference_names_every_command_and_option() -> None:
    text = cli_reference.render()
    for entry in cli_reference.walk():
        assert f"## `{entry.title}`" in text
        for option in cli_reference.options(entry.command):
            assert all(f"`{name}`" in text for name in option.opts)


def test_cli_reference_check_passes_on_a_fresh_file_and_fails_on_a_stale_one(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli-reference.md"
    assert cli_reference.main(["--check", str(out)]) == 1
    assert cli_reference.main([str(out)]) == 0
    assert cli_reference.main(["--check", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")
    assert cli_reference.main(["--check", str(out)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"{out} is out of date: run `make docs`"


def public_members(cls: type) -> set[str]:
    """What a subclass may set or override: the class's own public names."""
    return {name for name in vars(cls) if not name.startswith("_")}


def test_development_page_documents_every_hook_and_interface_member() -> None:
    """As Datasette's docs tests do: a hook or an interface member nobody documented fails the suite."""
    import pluggy

    from campushub.compute.backend import ComputeBackend
    from campushub.identity.methods.base import SignInMethod
    from campushub.plugins import hookspecs

    page = (DOCS / "development.md").read_text(encoding="utf-8")
    hooks = {name for name in vars(hookspecs) if name.startswith("campushub_")}
    assert hooks and all(callable(getattr(hookspecs, name)) for name in hooks)
    assert pluggy.HookspecMarker(hookspecs.PROJECT)  # the project name the entry points use
    members = (public_members(SignInMethod) | public_members(ComputeBackend) | hooks) - {"combined_entry"}
    missing = sorted(name for name in members if not re.search(rf"`{name}[`(]", page))
    assert not missing, f"docs/development.md does not document {missing}"
