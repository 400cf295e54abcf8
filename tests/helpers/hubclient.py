"""A student's view of a hub, over HTTP and the kernel websocket, as a browser would do it."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
import websocket


class ExecutionError(AssertionError):
    pass


# Longest a test waits for one answer from a kernel. Jupyter Server pings every websocket, so a socket's
# own read timeout never fires while the server lives: only a deadline over the whole wait ends it.
ANSWER_TIMEOUT = 120.0


def receive(ws: websocket.WebSocket, deadline: float) -> Any:
    """The next JSON message on `ws`, or TimeoutError once `deadline` (time.monotonic()) has passed."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer on the websocket before the deadline")
        ws.settimeout(remaining)
        opcode, frame = ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise websocket.WebSocketConnectionClosedException("the server closed the websocket")
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            return json.loads(frame.data if isinstance(frame.data, str) else frame.data.decode())


@dataclass
class Student:
    base_url: str
    name: str
    session: requests.Session = field(default_factory=requests.Session)

    def _xsrf(self, path: str = "/hub/") -> str:
        return self.session.cookies.get("_xsrf", path=path) or self.session.cookies.get("_xsrf") or ""

    def sign_in(self, password: str, username: str | None = None) -> requests.Response:
        """Post the login form; returns the final response after redirects."""
        self.session.get(f"{self.base_url}/hub/login")
        return self.session.post(
            f"{self.base_url}/hub/login",
            data={"username": username or self.name, "password": password, "_xsrf": self._xsrf()},
        )

    def hub_api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-XSRFToken": self._xsrf(), **kwargs.pop("headers", {})}
        return self.session.request(method, f"{self.base_url}/hub/api{path}", headers=headers, **kwargs)

    def server(self) -> dict | None:
        return self.hub_api("GET", "/user").json()["servers"].get("")

    def wait_for_server(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.server()
            if server and server.get("ready"):
                # Visiting the server completes its OAuth hand-shake and sets its cookie.
                response = self.session.get(f"{self.base_url}/user/{self.name}/lab")
                response.raise_for_status()
                return
            time.sleep(0.3)
        raise AssertionError(f"server of {self.name} not ready after {timeout}s")

    def start_server(self) -> None:
        response = self.hub_api("POST", f"/users/{self.name}/server")
        assert response.status_code in (201, 202), response.text
        self.wait_for_server()

    def stop_server(self) -> None:
        response = self.hub_api("DELETE", f"/users/{self.name}/server")
        assert response.status_code in (202, 204), response.text
        deadline = time.monotonic() + 30
        while self.server() and time.monotonic() < deadline:
            time.sleep(0.3)

    def server_api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-XSRFToken": self._xsrf(f"/user/{self.name}/"), **kwargs.pop("headers", {})}
        url = f"{self.base_url}/user/{self.name}/api{path}"
        return self.session.request(method, url, headers=headers, **kwargs)

    def kernel(self, kernel_name: str = "python3") -> Kernel:
        response = self.server_api("POST", "/kernels", json={"name": kernel_name})
        assert response.status_code == 201, response.text
        return Kernel(self, response.json()["id"])


@dataclass
class Kernel:
    student: Student
    id: str
    _ws: websocket.WebSocket | None = None

    def _socket(self) -> websocket.WebSocket:
        if self._ws is None:
            student = self.student
            ws_url = student.base_url.replace("http", "ws", 1)
            cookies = "; ".join(f"{c.name}={c.value}" for c in student.session.cookies)
            self._ws = websocket.create_connection(
                f"{ws_url}/user/{student.name}/api/kernels/{self.id}/channels", cookie=cookies, timeout=60
            )
        return self._ws

    def send(self, code: str) -> str:
        """Send `code` to run without waiting for it; returns the request's msg_id (its replies' parent)."""
        msg_id = uuid.uuid4().hex
        self._socket().send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": self.student.name,
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": False,
                        "user_expressions": {},
                        "allow_stdin": False,
                        # Each call stands alone: after an error, the kernel must not abort the next request.
                        "stop_on_error": False,
                    },
                    "channel": "shell",
                }
            )
        )
        return msg_id

    def execute(self, code: str, timeout: float = ANSWER_TIMEOUT) -> str:
        """Run `code`; return its result (text/plain) plus anything printed."""
        ws = self._socket()
        msg_id = self.send(code)
        output = []
        deadline = time.monotonic() + timeout
        while True:
            message = receive(ws, deadline)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                output.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                raise ExecutionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "execute_reply" and content.get("status") == "aborted":
                raise ExecutionError("the kernel aborted the request")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(output)

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None
