"""`campushub environments`: build a folder's environment ahead of time, and list what is built.

An admin builds a course's environment before the first lecture, so that the first student's launch
finds it ready; a repository launched later with the same packages uses the same environment.
"""

from __future__ import annotations

from pathlib import Path

import click

from campushub.cli_options import config_option
from campushub.config.loader import load_config
from campushub.environments.builder import EnvironmentBuilder, kernel_name, python_version, settings_for
from campushub.environments.spec import SPEC_FILES, SpecRefused, parse_spec
from campushub.environments.workspace import find_spec
from campushub.errors import UserError
from campushub.hub.layout import layout_for


@click.group("environments")
def environments_group() -> None:
    """Kernels built from requirements.txt or environment.yml, shared by everyone who launches them."""


def builder_for(config_path: Path) -> EnvironmentBuilder:
    config = load_config(config_path).config
    if not config.environments.enabled:
        raise UserError(f"{config_path}: `environments.enabled` is false; turn it on to build environments.")
    return EnvironmentBuilder(settings_for(config, layout_for(config)))


@environments_group.command("build")
@config_option
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--title", default="", help="The kernel's name in JupyterLab: Python (TITLE). Default: the folder's.")
def build_command(config_path: Path, folder: Path, title: str) -> None:
    """Build the environment FOLDER's requirements.txt or environment.yml asks for (nothing if it is built)."""
    builder = builder_for(config_path)
    found = find_spec(folder.resolve())
    if not found:
        raise UserError(f"{folder}: none of {', '.join(SPEC_FILES)} is there (as a plain file, not a link).")
    try:
        spec = parse_spec(found["name"], found["text"], python_version(builder.settings.base_python))
    except SpecRefused as refused:
        raise UserError(f"{folder / found['name']}: {refused}") from None
    title = title or folder.resolve().name
    click.echo(f"Building from {folder / found['name']} ({len(spec.requirements)} packages)...")
    key, state = builder.build(spec, title, str(folder.resolve()))
    if state != "ready":
        click.echo(builder.log(key)[-4000:], err=True)
        raise UserError(f"the build failed; its whole log is {builder.log_path(key)}")
    click.echo(f'Ready: kernel {kernel_name(key)}, "Python ({title})", in {builder.path(key)}')


@environments_group.command("list")
@config_option
def list_command(config_path: Path) -> None:
    """List built environments: kernel, title, what it was built for, packages."""
    for environment in builder_for(config_path).environments():
        packages = " ".join(environment.get("requirements", []))
        click.echo(f"{environment.get('kernel')}\t{environment.get('title')}\t{environment.get('origin')}\t{packages}")
