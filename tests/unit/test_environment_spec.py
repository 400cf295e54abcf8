"""What a repository may ask a build to install, and how environment.yml becomes pip requirements."""

from __future__ import annotations

import pytest

from campushub.environments.spec import (
    MAX_REQUIREMENTS,
    EnvironmentSpec,
    SpecRefused,
    conda_version,
    parse_requirements,
    parse_spec,
)


def test_requirements_keep_names_versions_extras_and_markers() -> None:
    text = "# course packages\nnumpy>=1.26  # arrays\npandas[excel]; python_version > '3'\n\nscipy \\\n  ==1.11.4\n"
    assert parse_requirements(text) == ["numpy>=1.26", 'pandas[excel]; python_version > "3"', "scipy==1.11.4"]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("--index-url http://evil.example/simple", "line 2: `--index-url` is not allowed"),
        ("-i http://evil.example/simple", "line 2: `-i` is not allowed"),
        ("--extra-index-url=http://x/", "line 2: `--extra-index-url` is not allowed"),
        ("-f ./wheels", "line 2: `-f` is not allowed"),
        ("-r ../../etc/other.txt", "line 2: `-r` is not allowed"),
        ("-e .", "line 2: `-e` is not allowed"),
        ("./local-package", "line 2: `./local-package` is not a package requirement"),
        ("/etc/passwd", "line 2: `/etc/passwd` is not a package requirement"),
        ("evil @ https://evil.example/evil.whl", "line 2: `evil @ ...` installs from a URL"),
        ("evil @ file:///etc/shadow", "line 2: `evil @ ...` installs from a URL"),
    ],
)
def test_anything_but_a_package_from_the_campus_index_is_refused_with_its_line(line: str, said: str) -> None:
    with pytest.raises(SpecRefused, match=said.replace("[", r"\[").replace(".", r"\.")):
        parse_spec("requirements.txt", f"numpy\n{line}\n", "3.11")


def test_environment_yml_becomes_what_pip_installs() -> None:
    text = """
name: week1
channels: [conda-forge]
dependencies:
  - python=3.11
  - numpy=1.26
  - conda-forge::pandas>=2
  - scipy 1.11
  - pytorch==2.1.0=py3_0
  - pip
  - pip:
    - requests==2.31
"""
    spec = parse_spec("environment.yml", text, "3.11")
    assert spec.requirements == ("numpy==1.26.*", "pandas>=2", "scipy==1.11.*", "torch==2.1.0", "requests==2.31")


def test_environment_yml_asking_for_another_python_is_refused_and_says_which() -> None:
    with pytest.raises(
        SpecRefused, match=r"asks for python==3\.8\.\*; this campus builds environments with Python 3\.11"
    ):
        parse_spec("environment.yml", "dependencies: [python=3.8]\n", "3.11")
    assert parse_spec("environment.yml", "dependencies: ['python>=3.9']\n", "3.11").requirements == ()


def test_environment_yml_errors_name_the_file() -> None:
    with pytest.raises(SpecRefused, match=r"environment\.yml, line 2: not valid YAML"):
        parse_spec("environment.yml", "dependencies: [unclosed\n", "3.11")
    with pytest.raises(SpecRefused, match="a `dependencies:` list"):
        parse_spec("environment.yml", "dependencies: numpy\n", "3.11")
    with pytest.raises(SpecRefused, match=r"pip dependency `-e \.`.*not allowed"):
        parse_spec("environment.yml", "dependencies:\n  - pip:\n    - -e .\n", "3.11")


@pytest.mark.parametrize(
    ("conda", "pip"),
    [("", ""), ("=1.2", "==1.2.*"), ("1.2", "==1.2.*"), ("=1.2=build_0", "==1.2.*"), ("==1.2.3", "==1.2.3"),
     ("==1.2.3=py_0", "==1.2.3"), (">=1.2,<2", ">=1.2,<2"), ("1.*", "==1.*")],
)  # fmt: skip
def test_conda_versions(conda: str, pip: str) -> None:
    assert conda_version(conda) == pip


def test_too_large_or_too_long_a_spec_is_refused() -> None:
    with pytest.raises(SpecRefused, match="larger than 64 KB"):
        parse_spec("requirements.txt", "x\n" * 40000, "3.11")
    with pytest.raises(SpecRefused, match=f"at most {MAX_REQUIREMENTS}"):
        parse_spec("requirements.txt", "".join(f"p{n}\n" for n in range(MAX_REQUIREMENTS + 1)), "3.11")


def test_the_same_packages_from_the_same_index_share_one_environment() -> None:
    one = EnvironmentSpec("requirements.txt", ("numpy", "pandas"))
    same = EnvironmentSpec("environment.yml", ("pandas", "numpy"))
    assert one.key("3.11", None) == same.key("3.11", None)
    assert one.key("3.11", None) != one.key("3.12", None)
    assert one.key("3.11", None) != one.key("3.11", "https://mirror.example.edu/simple/")
    assert one.key("3.11", None) != EnvironmentSpec("requirements.txt", ("numpy",)).key("3.11", None)
    assert len(one.key("3.11", None)) == 20
