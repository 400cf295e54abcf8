"""Merging the settings of many mappers into one JupyterHub configuration.

Each mapper (CampusHub's own, a sign-in method's, a compute backend's, a plug-in's) returns
`{Class: {trait: value}}` for its own concern. Merging adds, never overwrites: two mappers setting
the same trait is a bug to report, not a silent last-one-wins; lists (services, roles) are joined.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Settings = dict[str, dict[str, Any]]


class SettingsConflict(ValueError):
    """Two mappers set the same trait."""


def merge_settings(parts: Iterable[tuple[str, Settings]]) -> Settings:
    """`parts` are (who, settings) in order; `who` names the culprit when two of them set one trait."""
    merged: Settings = {}
    owners: dict[tuple[str, str], str] = {}
    for who, settings in parts:
        for section, values in settings.items():
            target = merged.setdefault(section, {})
            for key, value in values.items():
                if key not in target:
                    target[key] = value
                    owners[section, key] = who
                elif isinstance(target[key], list) and isinstance(value, list):
                    target[key] = [*target[key], *value]
                else:
                    raise SettingsConflict(f"{who} sets {section}.{key}, which {owners[section, key]} already set")
    return merged
