"""The `environments:` section of campus.yaml: kernels built from a repository's requirements."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from campushub.config.sections import Section

DEFAULT_DIRECTORY = Path("/var/lib/campushub/environments")


class Environments(Section):
    """Kernels built from a launched repository's `requirements.txt` or `environment.yml`, shared by everyone."""

    enabled: bool = Field(
        True,
        description="Build a kernel for a launched repository that lists its packages. Off: a launch clones the "
        "repository and opens it with the standard kernel.",
    )
    directory: Path = Field(
        DEFAULT_DIRECTORY,
        description="Where built environments are kept, one per set of packages (outside data_dir, which is "
        "private: users' servers must read these). Every folder above it must be readable by users' accounts.",
    )
    index_url: str | None = Field(
        None,
        description="The package index builds install from, e.g. your campus mirror "
        "`https://pypi.example.edu/simple/`. Empty: pip's own default (PyPI, or what /etc/pip.conf says).",
    )
    build_timeout: int = Field(900, gt=0, description="Seconds one build may take before it is stopped and failed.")
    builder_account: str = Field(
        "campushub-build",
        description="The system account builds run as (made on first use; never root). Installing a package runs "
        "its code: this account owns nothing but the environments.",
    )

    @field_validator("directory")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError(f"`directory` must be an absolute path, not {str(value)!r}")
        return value

    @field_validator("index_url")
    @classmethod
    def _an_index(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("`index_url` must be an http(s) URL of a package index such as https://pypi.org/simple/")
        return value
