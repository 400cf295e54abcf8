"""A simulated student: sign in, start a server, open a kernel, run `1+1`, as a browser would.

The same code drives both hubs, so any difference in the figures is the hubs' doing. Every step
is an ordinary HTTP request through the hub's public port (the proxy), with the cookies and XSRF
tokens a browser would send; the kernel is reached over its websocket with the Jupyter messaging
protocol. Anything unexpected ends the student's attempt and is recorded as one `Failure`.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import requests
import websocket
from requests.cookies import get_cookie_header

MAX_429_WAIT_S = 30.0


@dataclass(frozen=True)
class Failure:
    """What went wrong for one student: `status` is the HTTP status, or "timeout", "error" or "spawn failed"."""

    student: str
    step: str
    status: int | str
    method: str
    url: str
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


class StudentFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.step}: {failure.status} {failure.method} {failure.url} {failure.detail}")
        self.failure = failure


class Stopped(Exception):
    """The benchmark is being interrupted: give up quietly."""


def _is_2xx(status: int) -> bool:
    return 200 <= status < 300


def _gist(response: requests.Response) -> str:
    """A line saying why a request failed: a JSON error's message, or an HTML error page's title."""
    text = response.text
    if "json" in response.headers.get("Content-Type", ""):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])[:300]
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        return " ".join(title.group(1).split())[:300]
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())[:300]


@dataclass
class SimulatedStudent:
    """One student's browser session against one hub; `steps` holds seconds since the first GET."""

    base_url: str
    name: str
    password: str
    timeout_s: float
    stop: threading.Event
    session: requests.Session = field(default_factory=requests.Session)
    steps: dict[str, float] = field(default_factory=dict)
    retries_429: int = 0
    first_result_s: float | None = None
    kernel_id: str | None = None
    _ws: websocket.WebSocket | None = None
    _ws_url: str = ""
    _ws_lock: threading.Lock = field(default_factory=threading.Lock)
    _ws_closed_by_server: bool = False
    _ws_session: str = field(default_factory=lambda: uuid.uuid4().hex)
    _began: float = 0.0
    _deadline: float = 0.0

    # -- the journey -----------------------------------------------------------------------

    def first_result(self) -> float:
        """Sign in, start the server, open a kernel and run `1+1`; returns seconds until the `2` arrived."""
        self._began = time.monotonic()
        self._deadline = self._began + self.timeout_s
        hub = f"{self.base_url}/hub"
        self._request("login page", "GET", f"{hub}/login")
        self._request(
            "login",
            "POST",
            f"{hub}/login",
            data={"username": self.name, "password": self.password, "_xsrf": self._xsrf("/hub/")},
            allow_redirects=False,
            accept=self._signed_in,
        )
        self._request(
            "start server",
            "POST",
            f"{hub}/api/users/{self.name}/server",
            headers={"X-XSRFToken": self._xsrf("/hub/")},
            accept=self._started_or_running,
        )
        self._wait_until_ready()
        # The server page completes the server's OAuth hand-shake and sets its own _xsrf cookie.
        self._request("open server", "GET", f"{self.base_url}/user/{self.name}/lab")
        response = self._request(
            "start kernel",
            "POST",
            f"{self.base_url}/user/{self.name}/api/kernels",
            json={"name": "python3"},
            headers={"X-XSRFToken": self._xsrf(f"/user/{self.name}/")},
        )
        self.kernel_id = response.json()["id"]
        self._connect()
        self._execute_1_plus_1("first result")
        return self.first_result_s or 0.0

    def warm_round_trips(self, count: int) -> list[float]:
        """`count` sequential `1+1` over the open websocket; milliseconds from send to the `2`."""
        self._deadline = time.monotonic() + self.timeout_s
        return [self._execute_1_plus_1("warm execute") * 1000 for _ in range(count)]

    def keep_alive(self) -> None:
        """While the student sits idle, answer the server's websocket pings, as a browser does by itself.

        websocket-client answers a ping only while something reads the socket; the Jupyter server closes
        a websocket whose pings go unanswered for a minute, which would cut the idle students off before
        their warm executes. Anything else that arrives meanwhile answers no request of ours and is dropped.
        """
        if self.first_result_s is None or not self._ws_lock.acquire(blocking=False):
            return
        try:
            ws = self._ws
            while ws is not None and ws.sock is not None and select.select([ws.sock], [], [], 0)[0]:
                ws.settimeout(5)
                opcode, _frame = ws.recv_data_frame(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self._ws_closed_by_server = True
                    return
        except (OSError, websocket.WebSocketException):
            self._ws_closed_by_server = True
        finally:
            self._ws_lock.release()

    def close(self) -> None:
        # Waits for a keep-alive read in progress, but not for an execute stuck while being interrupted.
        locked = self._ws_lock.acquire(timeout=6)
        try:
            if self._ws is not None:
                with contextlib.suppress(Exception):
                    self._ws.close()
                self._ws = None
        finally:
            if locked:
                self._ws_lock.release()
        self.session.close()

    # -- HTTP --------------------------------------------------------------------------------

    def _xsrf(self, path: str) -> str:
        for cookie in self.session.cookies:
            if cookie.name == "_xsrf" and cookie.path == path:
                return cookie.value or ""
        return self.session.cookies.get("_xsrf") or ""

    def _remaining(self, step: str, method: str, url: str) -> float:
        if self.stop.is_set():
            raise Stopped
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise StudentFailed(Failure(self.name, step, "timeout", method, url, f"over {self.timeout_s:.0f} s"))
        return remaining

    def _request(
        self, step: str, method: str, url: str, accept: Callable[[requests.Response], bool] | None = None, **kwargs
    ) -> requests.Response:
        """One request; a 429 is waited out (Retry-After) and retried, anything else unexpected fails the student."""
        while True:
            remaining = self._remaining(step, method, url)
            try:
                response = self.session.request(method, url, timeout=remaining, **kwargs)
            except requests.Timeout:
                raise StudentFailed(Failure(self.name, step, "timeout", method, url, "no answer in time")) from None
            except requests.RequestException as exc:
                raise StudentFailed(Failure(self.name, step, "error", method, url, str(exc)[:300])) from None
            if response.status_code == 429:
                self.retries_429 += 1
                self._wait_out_429(response, step, method, url)
                continue
            if (accept or (lambda r: _is_2xx(r.status_code)))(response):
                self.steps[step] = time.monotonic() - self._began
                return response
            raise StudentFailed(Failure(self.name, step, response.status_code, method, response.url, _gist(response)))

    def _wait_out_429(self, response: requests.Response, step: str, method: str, url: str) -> None:
        try:
            wait = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            wait = 1.0
        wait = min(max(wait, 0.1), MAX_429_WAIT_S, self._remaining(step, method, url))
        if self.stop.wait(wait):
            raise Stopped

    @staticmethod
    def _signed_in(response: requests.Response) -> bool:
        """The login form answers a redirect away from itself when the password was right."""
        location = response.headers.get("Location", "")
        return response.status_code in (302, 303) and "/hub/login" not in location

    @staticmethod
    def _started_or_running(response: requests.Response) -> bool:
        """201/202, or 400 "already running"/"pending" when something else had already started it."""
        if response.status_code in (201, 202):
            return True
        return response.status_code == 400 and ("already running" in response.text or "pending" in response.text)

    def _wait_until_ready(self) -> None:
        """Follow the hub's spawn progress stream (what the browser's spawn page does) until it says ready."""
        step, url = "server ready", f"{self.base_url}/hub/api/users/{self.name}/server/progress"
        response = self._request(
            step,
            "GET",
            url,
            headers={"X-XSRFToken": self._xsrf("/hub/"), "Accept": "text/event-stream"},
            stream=True,
        )
        self.steps.pop(step, None)  # the headers arrived; ready is when the stream says so
        last: dict = {}
        try:
            for line in response.iter_lines(chunk_size=1, decode_unicode=True):
                self._remaining(step, "GET", url)
                if not line or not line.startswith("data:"):
                    continue
                last = json.loads(line[len("data:") :])
                if last.get("ready"):
                    self.steps[step] = time.monotonic() - self._began
                    return
                if last.get("failed"):
                    raise StudentFailed(Failure(self.name, step, "spawn failed", "GET", url, last.get("message", "")))
        except requests.RequestException as exc:
            status = "timeout" if isinstance(exc, requests.Timeout | requests.ConnectionError) else "error"
            raise StudentFailed(Failure(self.name, step, status, "GET", url, str(exc)[:300])) from None
        finally:
            response.close()
        message = last.get("message", "no event")
        raise StudentFailed(Failure(self.name, step, "error", "GET", url, f"stream ended before ready: {message}"))

    # -- the kernel websocket ----------------------------------------------------------------------

    def _connect(self) -> None:
        url = f"{self.base_url}/user/{self.name}/api/kernels/{self.kernel_id}/channels"
        step = "open websocket"
        remaining = self._remaining(step, "GET", url)
        # The cookies a browser would send to this URL: the server's own, not the hub's.
        cookie = get_cookie_header(self.session.cookies, requests.Request("GET", url).prepare()) or ""
        # JupyterLab names its client session in the URL; the server warns when it is missing.
        ws_url = self._ws_url = "ws" + url.removeprefix("http") + f"?session_id={self._ws_session}"
        try:
            self._ws = websocket.create_connection(ws_url, cookie=cookie, timeout=remaining)
        except websocket.WebSocketBadStatusException as exc:
            raise StudentFailed(Failure(self.name, step, exc.status_code, "GET", ws_url, str(exc)[:300])) from None
        except (TimeoutError, websocket.WebSocketTimeoutException):
            raise StudentFailed(Failure(self.name, step, "timeout", "GET", ws_url, "no answer in time")) from None
        except (OSError, websocket.WebSocketException) as exc:
            raise StudentFailed(Failure(self.name, step, "error", "GET", ws_url, str(exc)[:300])) from None
        self.steps[step] = time.monotonic() - self._began

    def _execute_1_plus_1(self, step: str) -> float:
        """Send `1+1`; returns seconds until its result `2` arrived, after the kernel went idle again.

        Waiting for idle keeps the reply and status messages of one request out of the next one's timing.
        """
        assert self._ws is not None
        ws_url = self._ws_url
        msg_id, request = self.execute_request("1+1")
        with self._ws_lock:
            return self._execute(step, ws_url, msg_id, request)

    def execute_request(self, code: str) -> tuple[str, dict]:
        """(msg_id, message): an execute_request of `code` on this student's kernel session."""
        msg_id = uuid.uuid4().hex
        return msg_id, {
            "header": {
                "msg_id": msg_id,
                "username": self.name,
                "session": self._ws_session,
                "msg_type": "execute_request",
                "version": "5.3",
                "date": datetime.now(UTC).isoformat(),
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            "channel": "shell",
        }

    def _execute(self, step: str, ws_url: str, msg_id: str, request: dict) -> float:
        assert self._ws is not None
        if self._ws_closed_by_server:
            raise StudentFailed(Failure(self.name, step, "error", "WS", ws_url, "the server closed the websocket"))
        sent = time.monotonic()
        result_at: float | None = None
        try:
            self._ws.send(json.dumps(request))
            while True:
                self._ws.settimeout(self._remaining(step, "WS", ws_url))
                raw = self._ws.recv()
                if not raw:  # a close frame
                    detail = "the server closed the websocket"
                    raise StudentFailed(Failure(self.name, step, "error", "WS", ws_url, detail))
                message = json.loads(raw)
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = message.get("msg_type"), message.get("content", {})
                if kind == "execute_result":
                    text = content.get("data", {}).get("text/plain")
                    if text != "2":
                        raise StudentFailed(Failure(self.name, step, "error", "WS", ws_url, f"1+1 gave {text!r}"))
                    result_at = time.monotonic()
                    if self.first_result_s is None:
                        self.first_result_s = result_at - self._began
                        self.steps[step] = self.first_result_s
                elif kind == "error":
                    detail = f"{content.get('ename')}: {content.get('evalue')}"
                    raise StudentFailed(Failure(self.name, step, "error", "WS", ws_url, detail))
                elif kind == "status" and content.get("execution_state") == "idle" and result_at is not None:
                    return result_at - sent
        except (TimeoutError, websocket.WebSocketTimeoutException):
            raise StudentFailed(Failure(self.name, step, "timeout", "WS", ws_url, "no result in time")) from None
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            raise StudentFailed(Failure(self.name, step, "error", "WS", ws_url, str(exc)[:300])) from None
