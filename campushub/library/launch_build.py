"""A launched repository's environment: read its spec as the person, point its notebooks at the kernel, build.

The builder itself (campushub/environments) knows nothing of launches; this joins it to one. Builds run in a
small thread pool of the library service, at most one per environment: a second launch of the same
packages finds it building and waits on the same page.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor

from campushub.compute.backend import WorkspaceAccount
from campushub.environments.builder import EnvironmentBuilder, State, kernel_name, python_version
from campushub.environments.spec import parse_spec
from campushub.library.copy import as_the_person

WORKSPACE_MODULE = "campushub.environments.workspace"
PARALLEL_BUILDS = 2

log = logging.getLogger("campushub.library")


class LaunchBuilds:
    def __init__(self, builder: EnvironmentBuilder) -> None:
        self.builder = builder
        self.pool = ThreadPoolExecutor(PARALLEL_BUILDS, thread_name_prefix="environment-build")
        self.running: dict[str, Future] = {}

    @property
    def python(self) -> str:
        return python_version(self.builder.settings.base_python)

    def prepare(
        self, workspace: WorkspaceAccount, folder: str, made: bool, title: str, origin: str
    ) -> tuple[str | None, State]:
        """(key, state) of the environment the clone in `folder` (under home) asks for; (None, "ready") when it
        lists no packages. Raises SpecRefused for a spec the builder will not build, saying which line."""
        found = json.loads(as_the_person(workspace, ["spec", folder], module=WORKSPACE_MODULE) or b"{}")
        if not found:
            return None, "ready"
        spec = parse_spec(found["name"], found["text"], self.python)
        key = spec.key(self.python, self.builder.settings.index_url)
        if made:  # a clone made before is the person's: its notebooks keep the kernel they chose
            display = f"Python ({title})"[:80]
            as_the_person(workspace, ["use-kernel", folder, kernel_name(key), display], module=WORKSPACE_MODULE)
        state = self.state(key)
        if state == "absent":
            build = self.pool.submit(self.builder.build, spec, title, origin)
            build.add_done_callback(lambda done: self.finished(key, origin, done))
            self.running[key] = build
            state = "building"
        return key, state

    def state(self, key: str) -> State:
        """The builder's word, and "building" from the moment a build is handed to the pool (before it has taken
        its lock)."""
        state = self.builder.state(key)
        if state == "absent" and key in self.running and not self.running[key].done():
            return "building"
        return state

    def finished(self, key: str, origin: str, build: Future) -> None:
        error = build.exception()
        if error is not None:
            log.error("The environment %s for %s could not be built: %s", key, origin, error, exc_info=error)
            return
        log.info("The environment %s for %s is %s", key, origin, build.result()[1])
