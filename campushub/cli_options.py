"""Options every `campushub` command group shares, kept apart so that groups in other modules can use them."""

from __future__ import annotations

from pathlib import Path

import click

from campushub.config.loader import DEFAULT_FILE

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=DEFAULT_FILE,
    show_default=True,
    help="The campus.yaml to use.",
)
