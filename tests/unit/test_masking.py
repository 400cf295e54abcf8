"""Secrets never reach the console or the log file: runtime.mask_secrets and cli.mask_url_password."""

from __future__ import annotations

import pytest

from campushub.cli import effective_yaml, mask_secret_values, mask_url_password
from campushub.config.schema import CampusConfig
from campushub.runtime import mask_secrets

SECRET = "s3cr3tV4lue"


@pytest.mark.parametrize(
    "line",
    [
        f"200 GET /hub/api/users?token={SECRET} (alice@127.0.0.1) 3.2ms",
        f"302 GET /user/alice/lab?token={SECRET}&redirects=1 -> /hub/login",
        f"POST /hub/login?next=%2Fhub%2F password={SECRET}",
        f"client secret={SECRET}",
        f"api_token={SECRET}",
        f"access_token={SECRET}&token_type=bearer",
        f"TOKEN={SECRET}",
        f"token: {SECRET}",
        f"PassWord={SECRET}",
        f"302 POST /hub/login?_xsrf={SECRET} -> /hub/spawn",
        f"_xsrf=2|a1b2c3|{SECRET}|1700000000",
    ],
)
def test_secret_values_are_hidden(line: str) -> None:
    masked = mask_secrets(line)
    assert SECRET not in masked
    assert "[hidden]" in masked


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /x?token=abc123&y=1", "GET /x?token=[hidden]&y=1"),
        ("password=hunter2 user=alice", "password=[hidden] user=alice"),
        ("secret=xyz, next", "secret=[hidden], next"),
    ],
)
def test_only_the_value_is_hidden(line: str, expected: str) -> None:
    assert mask_secrets(line) == expected


def test_xsrf_cookie_line_is_hidden() -> None:
    line = (
        "[I 2025-01-01 12:00:00.000 JupyterHub _xsrf_utils:131] "
        f"Setting new xsrf cookie for b'{SECRET}' {{'path': '/hub/', 'max_age': 3600}}"
    )
    masked = mask_secrets(line)
    assert SECRET not in masked
    assert "Setting new xsrf cookie for [hidden]" in masked
    assert "{'path': '/hub/', 'max_age': 3600}" in masked


@pytest.mark.parametrize(
    "line",
    [
        "[I 2025-01-01 12:00:00.000 JupyterHub app:3300] JupyterHub is now running at http://127.0.0.1:8000/",
        "[I 2025-01-01 12:00:00.000 JupyterHub log:192] 200 GET /hub/home (alice@127.0.0.1) 12.34ms",
        "Spawning server for alice with the default environment",
        "tokens are loaded from the database",
        "the password was wrong for user alice",
        "",
        "\n",
    ],
)
def test_ordinary_lines_are_unchanged(line: str) -> None:
    assert mask_secrets(line) == line


def test_mask_keeps_line_ending() -> None:
    assert mask_secrets("token=abc\n") == "token=[hidden]\n"


@pytest.mark.parametrize(
    "line",
    [
        f'password="{SECRET}"',
        f"password='{SECRET}'",
        f"token='{SECRET}'",
    ],
)
def test_quoted_secret_values_are_hidden(line: str) -> None:
    assert SECRET not in mask_secrets(line)


# --- database URLs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://campushub:{SECRET}@db.example.edu/campushub",
        f"postgresql+psycopg://campushub:{SECRET}@db.example.edu:5432/campushub?sslmode=require",
    ],
)
def test_mask_url_password_hides_the_password(url: str) -> None:
    masked = mask_url_password(url)
    assert SECRET not in masked
    assert "campushub@db.example.edu" in masked.replace(":***", "")
    assert masked.startswith("postgresql")


def test_mask_url_password_hides_percent_encoded_password() -> None:
    masked = mask_url_password("postgresql://campushub:p%40ss%2Fword@db.example.edu/campushub")
    assert "p%40ss" not in masked
    assert "p@ss" not in masked
    assert "db.example.edu" in masked


def test_mask_url_password_keeps_url_without_password() -> None:
    assert mask_url_password("sqlite:////srv/campushub/data/campushub.sqlite") == (
        "sqlite:////srv/campushub/data/campushub.sqlite"
    )


def test_mask_url_password_on_garbage_hides_everything() -> None:
    assert mask_url_password(f"not a url {SECRET}") == "[hidden]"


def test_effective_yaml_masks_database_password() -> None:
    config = CampusConfig.model_validate(
        {"database": {"url": f"postgresql://campushub:{SECRET}@db.example.edu/campushub"}}
    )
    text = effective_yaml(config)
    assert SECRET not in text
    assert "db.example.edu" in text


def test_effective_yaml_without_database_url() -> None:
    text = effective_yaml(CampusConfig())
    assert "url: null" in text
    assert "idle_timeout: 3600" in text


def test_check_hides_secret_settings_but_not_numbers_named_after_passwords() -> None:
    shown = mask_secret_values(
        {"sign_in": {"local": {"min_password_length": 10}, "oidc": {"sso": {"client_secret": "s3cret", "label": "x"}}}}
    )
    assert shown == {
        "sign_in": {"local": {"min_password_length": 10}, "oidc": {"sso": {"client_secret": "[hidden]", "label": "x"}}}
    }
