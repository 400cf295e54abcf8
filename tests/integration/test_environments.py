"""`campushub environments build` and `list` against a real package index, as an admin prepares a course."""

from __future__ import annotations

import json
import pwd
import subprocess

import pytest

pytestmark = pytest.mark.integration


def test_an_admin_builds_a_courses_environment_ahead_and_a_second_build_does_nothing(
    campus, tmp_path, package_index, environments_dir, build_account
):
    builder = build_account
    campus.update(
        **{
            "environments.directory": str(environments_dir),
            "environments.index_url": package_index.url,
            "environments.builder_account": builder,
        }
    )
    course = tmp_path / "phys101"
    course.mkdir()
    (course / "environment.yml").write_text("dependencies:\n  - python>=3.9\n  - campushub-demo-greeting=1.0\n")

    built = campus.cli("environments", "build", str(course), "--title", "PHYS 101")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Ready: kernel campushub-env-" in built.stdout and '"Python (PHYS 101)"' in built.stdout
    kernel = built.stdout.split("kernel ")[1].split(",")[0]
    key = kernel.removeprefix("campushub-env-")
    spec = json.loads((environments_dir / "share/jupyter/kernels" / kernel / "kernel.json").read_text())
    python = spec["argv"][0]
    said = subprocess.run([python, "-c", "import campushub_demo_greeting as g; print(g.GREETING)"],
                          capture_output=True, text=True, check=True, user=pwd.getpwnam("nobody").pw_uid)  # fmt: skip
    assert said.stdout == "hello from the index\n", "any account may use a built environment"
    assert (environments_dir / key).stat().st_uid == pwd.getpwnam(builder).pw_uid

    downloads = list(package_index.requests)
    again = campus.cli("environments", "build", str(course), "--title", "PHYS 101")
    assert again.returncode == 0 and kernel in again.stdout
    assert package_index.requests == downloads, "built once: nothing fetched again"

    # The build account is a system account: it must not look like one of the campus's own (`check` refuses a
    # user_prefix that begins a system account's name, and so would `up`).
    checked = campus.cli("check")
    assert "ok   account prefix" in checked.stdout, checked.stdout[-2000:]

    listed = campus.cli("environments", "list")
    assert listed.returncode == 0
    assert f"{kernel}\tPHYS 101\t{course}\tcampushub-demo-greeting==1.0.*" in listed.stdout


def test_build_mistakes_say_what_and_where(campus, tmp_path, package_index, environments_dir, build_account):
    campus.update(
        **{
            "environments.directory": str(environments_dir),
            "environments.index_url": package_index.url,
            "environments.builder_account": build_account,
        }
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    result = campus.cli("environments", "build", str(empty))
    assert result.returncode != 0 and "none of requirements.txt, environment.yml" in result.stderr
    assert "Traceback" not in result.stderr

    sneaky = tmp_path / "sneaky"
    sneaky.mkdir()
    (sneaky / "requirements.txt").write_text("numpy\n--extra-index-url http://evil.example/\n")
    result = campus.cli("environments", "build", str(sneaky))
    assert "requirements.txt, line 2: `--extra-index-url` is not allowed" in result.stderr, result.stderr
    assert result.returncode != 0 and "Traceback" not in result.stderr

    missing = tmp_path / "missing"
    missing.mkdir()
    (missing / "requirements.txt").write_text("campushub-not-on-the-index\n")
    result = campus.cli("environments", "build", str(missing))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "No matching distribution found for campushub-not-on-the-index" in result.stderr
    assert "the build failed; its whole log is" in result.stderr
