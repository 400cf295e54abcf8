"""Build a Python environment and its kernel from an EnvironmentSpec: once per set of packages, for everyone.

An environment is a venv under `environments.directory`, named by its spec's key (the packages, the index,
the Python version), so everyone who launches a repository with the same requirements shares one build.
It sees the user environment's packages behind its own (a `.pth` file), so a build installs only what is
new or a different version: ipykernel, numpy and the rest are not downloaded again for each repository.

Installing a package runs its code, so a build never runs as root: venv and pip run as
`environments.builder_account`, a system account that owns nothing but the environments, with the
environment folder its only writable place besides its own cache. Everything a build printed is kept
in `<key>.log`, which the launch page shows when it fails. A folder is ready only once its marker
(`campushub-environment.json`) is written, last; a failed build's folder is removed (it holds nothing but
what the build installed) and its log kept, and a new launch after RETRY_AFTER seconds tries again.
One build per key at a time, across processes: an flock on `.locks/<key>`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from campushub.environments.spec import EnvironmentSpec

if TYPE_CHECKING:
    from campushub.config.schema import CampusConfig
    from campushub.hub.layout import Layout

READY_FILE = "campushub-environment.json"
KERNEL_PREFIX = "campushub-env-"
RETRY_AFTER = 600
LOG_TAIL_BYTES = 64 * 1024
PTH_NAME = "_campushub_user_environment.pth"

State = Literal["ready", "building", "failed", "absent"]


class BuildFailed(RuntimeError):
    """A step of the build failed; the log says what pip or venv said."""


@dataclass(frozen=True)
class BuildSettings:
    """What a build needs, from campus.yaml and the install (see `settings_for`)."""

    root: Path
    base_python: Path
    index_url: str | None
    timeout: int
    account: str | None  # None: builds run as this process's own (non-root) account

    @property
    def kernels_dir(self) -> Path:
        """Kernel specs of ready environments; on users' servers' JUPYTER_PATH as `<root>/share/jupyter`."""
        return self.root / "share" / "jupyter" / "kernels"


def settings_for(config: CampusConfig, layout: Layout) -> BuildSettings:
    """Builds run with the user environment's Python, which the kernels then extend."""
    environments = config.environments
    return BuildSettings(
        root=environments.directory,
        base_python=layout.environment / "bin" / "python",
        index_url=environments.index_url,
        timeout=environments.build_timeout,
        account=environments.builder_account if layout.running_as_root else None,
    )


def jupyter_path(settings: BuildSettings) -> Path:
    return settings.kernels_dir.parent


def kernel_name(key: str) -> str:
    return f"{KERNEL_PREFIX}{key}"


def ask_python(python: Path, code: str) -> str:
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout


@functools.cache
def python_version(python: Path) -> str:
    """ "3.11": the Python environments are built with (part of each key); asked once per process."""
    return ask_python(python, "import sys; print('%d.%d' % sys.version_info[:2])").strip()


def kernel_spec(python: Path, title: str, key: str) -> dict:
    return {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({title})"[:80],
        "language": "python",
        "metadata": {"campushub": {"environment": key}},
    }


class EnvironmentBuilder:
    def __init__(self, settings: BuildSettings) -> None:
        self.settings = settings

    def path(self, key: str) -> Path:
        return self.settings.root / key

    def log_path(self, key: str) -> Path:
        return self.settings.root / f"{key}.log"

    def failed_path(self, key: str) -> Path:
        return self.settings.root / f"{key}.failed"

    def key(self, spec: EnvironmentSpec) -> str:
        return spec.key(python_version(self.settings.base_python), self.settings.index_url)

    def state(self, key: str) -> State:
        if (self.path(key) / READY_FILE).is_file():
            return "ready"
        if self.locked(key):
            return "building"
        failed = self.failed_path(key)
        if failed.is_file() and time.time() - failed.stat().st_mtime < RETRY_AFTER:
            return "failed"
        return "absent"

    def log(self, key: str) -> str:
        """The last LOG_TAIL_BYTES of what the build printed."""
        try:
            with self.log_path(key).open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def environments(self) -> list[dict]:
        """What each ready environment's marker says (key, packages, who it was built for, when)."""
        found = []
        for marker in sorted(self.settings.root.glob(f"*/{READY_FILE}")):
            with contextlib.suppress(OSError, ValueError):
                found.append(json.loads(marker.read_text()))
        return found

    def locked(self, key: str) -> bool:
        path = self.settings.root / ".locks" / key
        if not path.exists():
            return False
        with path.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
        return False

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        locks = self.settings.root / ".locks"
        locks.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (locks / key).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def build(self, spec: EnvironmentSpec, title: str, origin: str = "") -> tuple[str, State]:
        """(key, "ready" or "failed"): the environment for `spec`, built now unless it is ready already.

        `title` names the kernel ("Python (title)"); `origin` (a repository and commit, say) is recorded.
        Blocks for the whole build; a second caller for the same key waits for the first and builds nothing.
        """
        key = self.key(spec)
        self.settings.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        with self.lock(key):
            if self.state(key) == "ready":
                return key, "ready"
            try:
                self.run_build(key, spec, title, origin)
            except BuildFailed as failed:
                with self.log_path(key).open("a") as log:
                    log.write(f"\nThe build failed: {failed}\n")
                self.failed_path(key).write_text(f"{failed}\n")
                shutil.rmtree(self.path(key), ignore_errors=True)  # only what this build installed
                return key, "failed"
        return key, "ready"

    def run_build(self, key: str, spec: EnvironmentSpec, title: str, origin: str) -> None:
        settings, target = self.settings, self.path(key)
        shutil.rmtree(target, ignore_errors=True)  # a build interrupted before its marker was written
        self.failed_path(key).unlink(missing_ok=True)
        account = builder_account(settings)
        home = settings.root / ".home"
        for folder in (home, target):
            folder.mkdir(mode=0o755, exist_ok=True)
            if account:
                os.chown(folder, account.pw_uid, account.pw_gid)
        with self.log_path(key).open("w") as log:
            log.write(f"Building the environment for {origin or title} from {spec.source}:\n")
            log.write(spec.requirements_text() + "\n")
            log.flush()
            run = BuildRunner(settings, account, home, log.fileno())
            run.step("making the environment", [str(settings.base_python), "-m", "venv", "--without-pip", str(target)])
            python = target / "bin" / "python"
            site_packages = ask_python(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
            user_site = json.loads(
                ask_python(settings.base_python, "import json, site; print(json.dumps(site.getsitepackages()))")
            )
            (Path(site_packages) / PTH_NAME).write_text("".join(f"{path}\n" for path in user_site))
            requirements = target / "requirements.txt"
            requirements.write_text(spec.requirements_text())
            install = [str(settings.base_python), "-m", "pip", "--python", str(python), "install", "--no-input"]
            install += ["--disable-pip-version-check", "--progress-bar", "off", "--no-warn-script-location"]
            if settings.index_url:
                install += ["--index-url", settings.index_url]
            run.step("installing the packages", [*install, "-r", str(requirements)])
            run.step("checking the kernel", [str(python), "-c", "import ipykernel"])
            log.write("\nThe environment is ready.\n")
        self.write_kernel(key, python, title)
        marker = {
            "key": key,
            "title": title,
            "origin": origin,
            "source": spec.source,
            "requirements": list(spec.requirements),
            "kernel": kernel_name(key),
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (target / READY_FILE).write_text(json.dumps(marker, indent=1) + "\n")

    def write_kernel(self, key: str, python: Path, title: str) -> None:
        folder = self.settings.kernels_dir / kernel_name(key)
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        for parent in (
            self.settings.kernels_dir,
            self.settings.kernels_dir.parent,
            self.settings.kernels_dir.parent.parent,
        ):
            parent.chmod(0o755)
        (folder / "kernel.json").write_text(json.dumps(kernel_spec(python, title, key), indent=1) + "\n")


def builder_account(settings: BuildSettings) -> pwd.struct_passwd | None:
    """The account builds run as (made the first time, as a system account without a login), or None when this
    process is not root (it then builds as itself, which is not root either)."""
    if settings.account is None:
        if os.geteuid() == 0:
            raise BuildFailed("a build never runs as root: set environments.builder_account")
        return None
    try:
        account = pwd.getpwnam(settings.account)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(settings.root / ".home"),
             "--shell", "/usr/sbin/nologin", "--comment", "CampusHub environment builds", settings.account],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            raise BuildFailed(f"could not make the build account {settings.account}: {made.stderr.strip()}") from None
        account = pwd.getpwnam(settings.account)
    if account.pw_uid == 0:
        raise BuildFailed(f"the build account {settings.account} is root: builds never run as root")
    return account


@dataclass
class BuildRunner:
    """Runs each step as the build account, its output into the log, within what is left of the time limit."""

    settings: BuildSettings
    account: pwd.struct_passwd | None
    home: Path
    log_fd: int

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.settings.timeout

    def step(self, what: str, command: list[str]) -> None:
        os.write(self.log_fd, f"\n$ {' '.join(command)}\n".encode())
        environment = {
            "HOME": str(self.home),
            "PATH": f"{self.settings.base_python.parent}:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PIP_CACHE_DIR": str(self.home / "pip-cache"),
            "PIP_NO_INPUT": "1",
        }
        identity = {} if self.account is None else {
            "user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": [],
        }  # fmt: skip
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise BuildFailed(f"the build took longer than {self.settings.timeout} s")
        try:
            result = subprocess.run(
                command, stdout=self.log_fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment,
                cwd=str(self.home), umask=0o022, timeout=left, check=False, **identity,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise BuildFailed(f"{what}: the build took longer than {self.settings.timeout} s") from None
        except OSError as exc:
            raise BuildFailed(f"{what}: could not run {command[0]}: {exc.strerror}") from None
        if result.returncode != 0:
            raise BuildFailed(f"{what} failed (exit status {result.returncode}); the lines above say why")
