"""Rendered files, kept per version: a version never changes, so its rendering is done once.

Kept on disk under `<data_dir>/cache/library/`, one file per (project, version, file, renderer
revision), so that a restart does not render everything again and a new CampusHub whose renderer
changed renders afresh. Deleting the folder is always safe: pages are rendered again on demand.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from campushub.library.render import Rendered

# Bump when the renderer's output changes, so that no page rendered by an older renderer is served.
RENDERER_REVISION = "1"


class RenderCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, owner: str, slug: str, number: int, path: str, variant: str = "") -> Path:
        key = json.dumps([RENDERER_REVISION, path, variant]).encode()
        return self.root / owner / slug / str(number) / (hashlib.sha256(key).hexdigest() + ".json")

    def get(self, owner: str, slug: str, number: int, path: str, variant: str = "") -> Rendered | None:
        try:
            data = json.loads(self.path_for(owner, slug, number, path, variant).read_text(encoding="utf-8"))
            return Rendered(title=data["title"], body=data["body"], kind=data["kind"])
        except (OSError, ValueError, KeyError):
            return None

    def put(self, owner: str, slug: str, number: int, path: str, rendered: Rendered, variant: str = "") -> None:
        target = self.path_for(owner, slug, number, path, variant)
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".render.")
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump({"title": rendered.title, "body": rendered.body, "kind": rendered.kind}, out)
        os.replace(temporary, target)  # readers see the whole file or none

    def rendered(
        self, owner: str, slug: str, number: int, path: str, produce: Callable[[], Rendered], variant: str = ""
    ) -> Rendered:
        """The cached rendering, or `produce()`'s, kept for next time. A refusal is not kept: it is cheap."""
        found = self.get(owner, slug, number, path, variant)
        if found is None:
            found = produce()
            self.put(owner, slug, number, path, found, variant)
        return found
