"""The `campushub` command reference (docs/cli-reference.md), generated from the click commands.

The commands in campushub/cli.py are the single source of truth for what
`campushub` accepts, so the reference is rendered from their click tree
rather than written by hand: a command, option, default or help text changed
there shows up in the docs with `make docs`, and `make test` fails
(`--check`) when someone forgets. It is the command-line twin of
campushub/config/reference.py, which does the same for campus.yaml.

    python -m campushub.cli_reference docs/cli-reference.md          # write
    python -m campushub.cli_reference --check docs/cli-reference.md  # exit 1 if stale

Every function below is pure (commands in, text out) except `main`, so the
rendering can be tested without touching the disk.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from campushub.cli import cli
from campushub.config.reference import anchor
from campushub.generated_docs import generated_page_main

PROGRAM = "campushub"

_HEADER = """\
<!-- Generated from campushub/cli.py by `make docs`. Edit the commands' help there, not this file. -->

# `campushub` command reference

Every command, argument and option of `campushub`, generated from the command definitions. What the commands are
for, with examples, is in [Operations](operations.md); `campus.yaml` is described in the
[configuration reference](config-reference.md).

- Run it from the checkout as `.venv/bin/campushub`; `make up` runs `campushub up`.
- Every command and group also takes `--help`, which prints its usage, arguments and options.
- A command that reads `campus.yaml` takes `-c FILE` / `--config FILE` to read another file.
- Exit statuses are listed in [Operations](operations.md#exit-statuses).
"""


@dataclass(frozen=True)
class Entry:
    """One command or group of the tree: its words after `campushub`, and the click context it runs in."""

    words: tuple[str, ...]
    context: click.Context

    @property
    def command(self) -> click.Command:
        return self.context.command

    @property
    def title(self) -> str:
        return " ".join((PROGRAM, *self.words))

    @property
    def is_group(self) -> bool:
        return isinstance(self.command, click.Group)


def walk(
    command: click.Command = cli, words: tuple[str, ...] = (), parent: click.Context | None = None
) -> Iterator[Entry]:
    """Every command under `command`, depth first, a group before its commands, in the order `--help` lists them."""
    context = click.Context(command, parent=parent, info_name=words[-1] if words else PROGRAM)
    yield Entry(words, context)
    if isinstance(command, click.Group):
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, (*words, name), context)


def help_text(command: click.Command) -> str:
    """The command's help as Markdown paragraphs: click wraps docstrings, Markdown rewraps them anyway."""
    text = inspect.cleandoc(command.help or "")
    paragraphs = [" ".join(paragraph.replace("\b", "").split()) for paragraph in text.split("\n\n")]
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


def short_help(command: click.Command) -> str:
    """The first sentence of the help, as `campushub --help` lists commands (never cut short)."""
    return command.get_short_help_str(limit=10_000)


def usage(entry: Entry) -> str:
    """`campushub users add [OPTIONS] NAMES...`: the usage line click prints, without its `Usage:` label."""
    return entry.command.get_usage(entry.context).removeprefix("Usage:").strip()


def options(command: click.Command) -> list[click.Option]:
    return [param for param in command.params if isinstance(param, click.Option) and not param.hidden]


def arguments(command: click.Command) -> list[click.Argument]:
    return [param for param in command.params if isinstance(param, click.Argument)]


def option_names(option: click.Option) -> str:
    """`-c`, `--config`; a boolean switch pair reads `--x` / `--no-x`."""
    names = ", ".join(f"`{name}`" for name in option.opts)
    if option.secondary_opts:
        names += " / " + ", ".join(f"`{name}`" for name in option.secondary_opts)
    return names


def type_words(param: click.Parameter) -> str:
    """What the option or argument takes, in the words an admin reads rather than click's type names."""
    if isinstance(param, click.Option) and param.is_flag:
        words = "flag"
    else:
        kind = param.type
        if isinstance(kind, click.Choice):
            words = "one of " + ", ".join(f"`{choice}`" for choice in kind.choices)
        elif isinstance(kind, click.IntRange | click.FloatRange):
            number = "integer" if isinstance(kind, click.IntRange) else "number"
            limits = [
                f"at least {kind.min}" if kind.min is not None else "",
                f"at most {kind.max}" if kind.max is not None else "",
            ]
            words = ", ".join([number, *(limit for limit in limits if limit)])
        elif isinstance(kind, click.Path):
            words = "path"
        else:
            words = {"integer": "integer", "float": "number", "boolean": "true or false"}.get(kind.name, "text")
    if isinstance(param, click.Option) and param.multiple:
        words += "; repeatable"
    return words


def default_words(option: click.Option, context: click.Context) -> str:
    """The default as Markdown; `required` for an option that has none and must be given."""
    if option.required:
        return "required"
    value: Any = option.get_default(context, call=True)
    if option.is_flag:
        return "on" if value else "off"
    if value is None or value == () or value == [] or value is click.core.UNSET:
        return "none"
    return f"`{value}`"


def argument_words(argument: click.Argument) -> str:
    """How many values an argument takes and whether it must be given."""
    if argument.nargs == -1:
        count = "one or more values" if argument.required else "any number of values"
    else:
        count = "one value" if argument.nargs == 1 else f"{argument.nargs} values"
    return f"{count}, {'required' if argument.required else 'optional'}"


def _cell(text: str) -> str:
    """A `|` inside a table cell would end the cell."""
    return text.replace("|", "\\|")


def summary_table(entries: list[Entry]) -> str:
    """One line per command (groups left out: their commands say it all), linking to the command's details."""
    lines = ["| Command | What it does |", "| --- | --- |"]
    for entry in entries:
        if entry.is_group:
            continue
        lines.append(f"| [`{entry.title}`](#{anchor(entry.title)}) | {_cell(short_help(entry.command))} |")
    return "\n".join(lines) + "\n"


def arguments_table(command: click.Command) -> str:
    lines = ["| Argument | Takes |", "| --- | --- |"]
    lines += [f"| `{argument.human_readable_name}` | {argument_words(argument)} |" for argument in arguments(command)]
    return "\n".join(lines) + "\n"


def options_table(command: click.Command, context: click.Context) -> str:
    lines = ["| Option | Takes | Default | What it does |", "| --- | --- | --- | --- |"]
    for option in options(command):
        cells = [option_names(option), type_words(option), default_words(option, context), option.help or ""]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def command_details(entry: Entry) -> str:
    """A command's heading, help, usage line, then its arguments and options; a group lists its commands."""
    command = entry.command
    blocks = [f"## `{entry.title}`\n"]
    text = help_text(command)
    if text:
        blocks.append(f"{text}\n")
    blocks.append(f"```text\n{usage(entry)}\n```\n")
    if entry.is_group:
        assert isinstance(command, click.Group)
        names = [name for name in command.list_commands(entry.context) if not command.commands[name].hidden]
        links = [f"[`{entry.title} {name}`](#{anchor(f'{entry.title} {name}')})" for name in names]
        blocks.append("Commands: " + ", ".join(links) + ".\n")
    if arguments(command):
        blocks.append(arguments_table(command))
    if options(command):
        blocks.append(options_table(command, entry.context))
    return "\n".join(blocks)


def render(root: click.Command = cli) -> str:
    """The whole reference: header, summary table, then every group and command in `--help` order."""
    entries = list(walk(root))
    blocks = [_HEADER, "## All commands\n", summary_table(entries)]
    blocks.extend(command_details(entry) for entry in entries)
    return "\n".join(blocks).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    description = "Generate the `campushub` command reference."
    return generated_page_main("python -m campushub.cli_reference", description, render, argv)


if __name__ == "__main__":
    sys.exit(main())
