"""The container images users' servers run in, built on this machine: what `campushub images build` calls.

Two images, one on top of the other:

- `campushub/base:bookworm`: a Debian bookworm root made by `debootstrap --variant=minbase`, with Python 3.11,
  venv, CA certificates and tini, imported with `tar | docker import`. Nothing is pulled from a Docker
  registry (campuses often reach none, and a base we make ourselves is one we can audit); only Debian's
  archive is asked, as for any `apt-get`. Built once: skipped when the tag exists.
- `campushub/user:<version>`: the base plus the user environment, a venv at `ENV_PATH` holding the
  project's `user` extra (JupyterLab and the scientific stack) and jupyterhub (for `jupyterhub-singleuser`),
  pinned by constraints.txt. The wheels are made on the host, with the host's pip set-up (its index, its
  CA bundle, its proxy), into a wheelhouse kept in the cache; the venv is then installed in a container from
  the base with `--network none` and `pip --no-index`, and committed. So the registry is asked only when the
  wheelhouse for these inputs is not there yet, no CA bundle has to be carried into a container, no build
  context is copied and no BuildKit front-end (itself an image from a registry) is needed.
  The image carries a label with a hash of its inputs (the base image, the requirements, the wheels that
  constraints.txt selected, and `RECIPE`); it is rebuilt only when that hash changes.

Every function talks to the Docker engine named by `docker_host` (a DOCKER_HOST URL) through the docker CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from campushub import __version__

BASE_IMAGE = "campushub/base:bookworm"
USER_REPOSITORY = "campushub/user"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "CAMPUSHUB_DEBIAN_MIRROR"
# What a JupyterLab server needs from Debian; everything else comes from wheels. tini is PID 1 (reaps the
# kernels' children, passes signals on), so the image does not depend on the engine's --init.
# python3-distutils is named because python3.11-venv depends on the virtual python3.11-distutils, which
# debootstrap's resolver does not follow (dpkg then leaves python3.11-venv unconfigured and debootstrap fails).
BASE_PACKAGES = ("python3.11", "python3.11-venv", "python3-distutils", "ca-certificates", "tini")
BASE_PYTHON = "/usr/bin/python3.11"
ENV_PATH = "/opt/campushub/env"
# Containers started without a user (by hand, by mistake) do not run as root; the spawner sets the real one.
DEFAULT_USER = "65534:65534"
INPUTS_LABEL = "org.campushub.inputs"
VERSION_LABEL = "org.campushub.version"
# Bump when the way the user image is made changes, so that images made the old way are rebuilt.
RECIPE = "user-image-1"
# Whose python makes the wheelhouse: its wheels must fit the image's python (3.11 on bookworm's glibc).
WHEEL_PYTHON = (3, 11)


class ImageBuildError(RuntimeError):
    """A step of an image build failed; the message carries the step's own output."""


@dataclass
class BuildResult:
    """One image: whether this call built it (False: it was already there and current), and how long each step took."""

    image: str
    built: bool
    size_bytes: int
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())


def docker_cli() -> str:
    """Debian's docker CLI (what docker.io installs) when present, so the client matches the engine; else PATH's."""
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    found = shutil.which("docker")
    if found is None:
        raise ImageBuildError("no docker CLI: apt-get install docker.io")
    return found


def docker(docker_host: str, *args: str, check: bool = True, stdin: int | None = None) -> subprocess.CompletedProcess:
    """Run the docker CLI against `docker_host`; a failure raises with docker's own words."""
    env = {**os.environ, "DOCKER_HOST": docker_host}
    result = subprocess.run([docker_cli(), *args], capture_output=True, text=True, env=env, stdin=stdin)
    if check and result.returncode != 0:
        raise ImageBuildError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return result


def image_info(docker_host: str, image: str) -> dict | None:
    """`docker image inspect` of `image`, or None when the engine has no such image."""
    result = docker(docker_host, "image", "inspect", image, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]


def user_image(version: str = __version__) -> str:
    return f"{USER_REPOSITORY}:{version}"


def _size(docker_host: str, image: str) -> int:
    info = image_info(docker_host, image)
    return int(info["Size"]) if info else 0


def build_base(docker_host: str, cache_dir: Path, *, mirror: str | None = None, force: bool = False) -> BuildResult:
    """`campushub/base:bookworm` from debootstrap; skipped when the engine already has it (unless `force`).

    Debian's .debs are kept in `cache_dir/debs` (debootstrap --cache-dir), so a forced rebuild downloads
    nothing new. The tree is made under `cache_dir` (the same file system as the engine's data, usually) and
    removed after the import. Needs root (debootstrap chroots and makes device nodes).
    """
    if not force and image_info(docker_host, BASE_IMAGE) is not None:
        return BuildResult(BASE_IMAGE, built=False, size_bytes=_size(docker_host, BASE_IMAGE))
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("no debootstrap: apt-get install debootstrap")
    steps: dict[str, float] = {}
    debs = cache_dir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    tree = Path(tempfile.mkdtemp(prefix="base-tree-", dir=cache_dir))
    try:
        started = time.monotonic()
        _run(
            [
                "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                f"--cache-dir={debs}", SUITE, str(tree), mirror or os.environ.get(MIRROR_ENV, DEFAULT_MIRROR),
            ],
            "debootstrap",
        )  # fmt: skip
        steps["debootstrap"] = time.monotonic() - started
        started = time.monotonic()
        _trim_tree(tree)
        _import_tree(docker_host, tree, BASE_IMAGE)
        steps["import"] = time.monotonic() - started
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    _prune_replaced(docker_host)
    return BuildResult(BASE_IMAGE, built=True, size_bytes=_size(docker_host, BASE_IMAGE), steps=steps)


TRIMMED = ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "dev/*", "usr/share/doc/*", "usr/share/man/*")


def _trim_tree(tree: Path) -> None:
    """What an image needs none of: downloaded .debs, apt lists, device nodes (the engine makes /dev), docs."""
    for pattern in (
        "var/cache/apt/archives/*.deb",
        "var/lib/apt/lists/*",
        "dev/*",
        "usr/share/doc/*",
        "usr/share/man/*",
    ):
        for path in tree.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.name != "lock":
                path.unlink()


def _import_tree(docker_host: str, tree: Path, image: str) -> None:
    """`tar -C tree -c . | docker import - image`, numeric owners and xattrs (file capabilities) kept."""
    changes = ["ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]', f"LABEL {VERSION_LABEL}={SUITE}"]
    env = {**os.environ, "DOCKER_HOST": docker_host}
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(tree), "-c", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tar.stdout is not None
    try:
        imported = subprocess.run(
            [docker_cli(), "import", *(arg for change in changes for arg in ("--change", change)), "-", image],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            env=env,
        )
    finally:
        tar.stdout.close()
        tar_error = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
        tar.wait()
    if tar.returncode != 0:
        raise ImageBuildError(f"tar of {tree} failed ({tar.returncode}):\n{tar_error}")
    if imported.returncode != 0:
        raise ImageBuildError(f"docker import {image} failed:\n{imported.stderr}")


def user_requirements(project_root: Path) -> list[str]:
    """What the user environment holds: pyproject's `user` extra plus the hub's own jupyterhub requirement.

    jupyterhub is there for `jupyterhub-singleuser`, the server the hub starts in the container; its version
    must match the hub's, so it is the same requirement (and constraints.txt pins both to one version).
    """
    project = tomllib.loads((project_root / "pyproject.toml").read_text())["project"]
    hub = [req for req in project["dependencies"] if re.match(r"[\w.-]+", req).group().lower() == "jupyterhub"]
    return [*project["optional-dependencies"]["user"], *hub]


def _constraints(project_root: Path) -> str:
    path = project_root / "constraints.txt"
    return path.read_text() if path.exists() else ""


def inputs_hash(base_image_id: str, requirements: Sequence[str], wheels: Sequence[str]) -> str:
    """What the user image is made from, as one hash: any change rebuilds it, nothing else does.

    The wheels (their file names: name, version, build tags) stand for constraints.txt: a change there that
    touches only the hub's own packages (a new spawner, say) makes the same wheelhouse and rebuilds nothing.
    """
    digest = hashlib.sha256()
    for part in (RECIPE, ENV_PATH, base_image_id, "\n".join(requirements), "\n".join(sorted(wheels))):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def build_wheelhouse(requirements: Sequence[str], constraints: str, cache_dir: Path) -> Path:
    """Every wheel the user environment needs, made on the host with its pip (its index, proxy and CA bundle).

    Kept in `cache_dir/wheels/<hash>` and reused while the requirements and constraints are the same, so a
    rebuild of the image asks no registry; the wheelhouses of other inputs are removed. Packages published
    only as sources are built into wheels here, which works because the host runs the image's Python (3.11
    on bookworm): checked, not assumed.
    """
    if sys.version_info[:2] != WHEEL_PYTHON:
        raise ImageBuildError(f"the wheelhouse needs Python {'.'.join(map(str, WHEEL_PYTHON))}, this is {sys.version}")
    key = hashlib.sha256("\n".join([*requirements, constraints]).encode()).hexdigest()[:16]
    wheelhouse = cache_dir / "wheels" / key
    if (wheelhouse / ".complete").exists():
        return wheelhouse
    shutil.rmtree(wheelhouse, ignore_errors=True)
    wheelhouse.mkdir(parents=True)
    (wheelhouse / "requirements.txt").write_text("\n".join(requirements) + "\n")
    (wheelhouse / "constraints.txt").write_text(constraints)
    _run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
            "--wheel-dir", str(wheelhouse), "-c", str(wheelhouse / "constraints.txt"),
            "-r", str(wheelhouse / "requirements.txt"),
        ],
        "pip wheel",
    )  # fmt: skip
    (wheelhouse / ".complete").write_text(key + "\n")
    for other in wheelhouse.parent.iterdir():  # the wheelhouses of earlier inputs: about 160 MB each
        if other != wheelhouse and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    return wheelhouse


def build_user(
    docker_host: str, project_root: Path, cache_dir: Path, *, version: str = __version__, force: bool = False
) -> BuildResult:
    """`campushub/user:<version>` on the base: rebuilt only when its inputs hash differs from the image's label.

    The venv is installed in a throwaway container from the base with no network and the wheelhouse mounted
    read-only, then committed with the image's settings (PATH, user, tini as entrypoint, the labels).
    """
    image = user_image(version)
    base = image_info(docker_host, BASE_IMAGE)
    if base is None:
        raise ImageBuildError(f"{BASE_IMAGE} is missing: build_base first")
    requirements = user_requirements(project_root)
    steps: dict[str, float] = {}
    started = time.monotonic()
    wheelhouse = build_wheelhouse(requirements, _constraints(project_root), cache_dir)
    steps["wheelhouse"] = time.monotonic() - started
    wanted = inputs_hash(base["Id"], requirements, [wheel.name for wheel in wheelhouse.glob("*.whl")])
    current = image_info(docker_host, image)
    if not force and current is not None and (current["Config"].get("Labels") or {}).get(INPUTS_LABEL) == wanted:
        return BuildResult(image, built=False, size_bytes=int(current["Size"]), steps=steps)
    started = time.monotonic()
    container = f"campushub-build-{os.getpid()}-{int(time.time())}"
    install = (
        f"set -e; {BASE_PYTHON} -m venv {ENV_PATH}; "
        f"{ENV_PATH}/bin/pip install --quiet --no-index --no-cache-dir --disable-pip-version-check "
        f"--find-links /wheels -c /wheels/constraints.txt -r /wheels/requirements.txt; "
        f"{ENV_PATH}/bin/pip check; {ENV_PATH}/bin/jupyterhub-singleuser --version >/dev/null"
    )
    changes = [
        f"ENV PATH={ENV_PATH}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        f"ENV VIRTUAL_ENV={ENV_PATH}",
        "ENV LANG=C.UTF-8",
        "ENV PYTHONUNBUFFERED=1",
        f"USER {DEFAULT_USER}",
        "WORKDIR /",
        'ENTRYPOINT ["/usr/bin/tini", "-g", "--"]',
        'CMD ["jupyterhub-singleuser"]',
        f"LABEL {INPUTS_LABEL}={wanted}",
        f"LABEL {VERSION_LABEL}={version}",
    ]
    try:
        docker(
            docker_host, "run", "--name", container, "--network", "none", "--user", "0:0",
            "-v", f"{wheelhouse}:/wheels:ro", BASE_IMAGE, "sh", "-c", install,
        )  # fmt: skip
        steps["venv"] = time.monotonic() - started
        started = time.monotonic()
        docker(docker_host, "commit", *(arg for change in changes for arg in ("--change", change)), container, image)
        steps["commit"] = time.monotonic() - started
    finally:
        docker(docker_host, "rm", "--force", container, check=False)
    _prune_replaced(docker_host)
    return BuildResult(image, built=True, size_bytes=_size(docker_host, image), steps=steps)


def build_images(
    docker_host: str, project_root: Path, cache_dir: Path, *, version: str = __version__
) -> list[BuildResult]:
    """Both images, each only if missing or out of date: what `campushub images build` does."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    return [build_base(docker_host, cache_dir), build_user(docker_host, project_root, cache_dir, version=version)]


def _prune_replaced(docker_host: str) -> None:
    """Drop the images a rebuild left untagged (each user image is most of a gigabyte), ours only.

    Twice: a replaced base is still the parent of the replaced user image until that one is gone.
    """
    for _ in range(2):
        docker(docker_host, "image", "prune", "--force", "--filter", f"label={VERSION_LABEL}", check=False)


def _run(command: Sequence[str], step: str) -> None:
    result = subprocess.run(list(command), capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise ImageBuildError(f"{step} failed ({result.returncode}):\n{tail}")
