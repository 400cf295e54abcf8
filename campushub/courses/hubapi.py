"""The few JupyterHub REST calls warming needs, with the standard library (services need no extra packages)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote


class HubAPIError(Exception):
    pass


class HubAPI:
    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, text
        except OSError as exc:
            raise HubAPIError(f"{method} {self.api_url}{path}: {exc}") from None

    def wait_until_known(self, tries: int = 10) -> HubAPI:
        """A token written to the database a moment ago may not be visible yet to the hub's own database session
        (SQLite shows a reader the snapshot its transaction began with): ask for a few seconds before using it."""
        for _ in range(tries):
            status, _ = self.request("GET", "/user")
            if status != 403:
                break
            time.sleep(0.3)
        return self

    def user(self, name: str) -> dict | None:
        status, body = self.request("GET", f"/users/{quote(name)}")
        return body if status == 200 and isinstance(body, dict) else None

    def create_user(self, name: str) -> None:
        status, body = self.request("POST", f"/users/{quote(name)}")
        if status not in (201, 409):
            raise HubAPIError(f"could not create user {name}: HTTP {status} {body}")

    def start_server(self, name: str) -> int:
        status, body = self.request("POST", f"/users/{quote(name)}/server")
        if status not in (201, 202, 400):  # 400: already running or starting
            raise HubAPIError(f"could not start {name}'s server: HTTP {status} {body}")
        return status

    def stop_server(self, name: str) -> None:
        status, body = self.request("DELETE", f"/users/{quote(name)}/server")
        if status not in (202, 204, 400):
            raise HubAPIError(f"could not stop {name}'s server: HTTP {status} {body}")

    def group_members(self, group: str) -> list[str]:
        status, body = self.request("GET", f"/groups/{quote(group)}")
        if status == 404:
            return []
        if status != 200 or not isinstance(body, dict):
            raise HubAPIError(f"could not read group {group}: HTTP {status} {body}")
        return list(body.get("users", []))
