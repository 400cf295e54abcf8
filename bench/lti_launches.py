"""LTI 1.3 launches at the start of a lecture: CampusHub's `lti` sign-in method against stock ltiauthenticator.

Run from the checkout (`.venv/bin/python bench/lti_launches.py`), as root or not. N students open CampusHub from
their course in the LMS within a window, each with the whole LTI 1.3 flow a browser makes: the LMS's
third-party-initiated login at the hub, the hub's authentication request to the LMS, the LMS's signed id_token
posted back to the hub, until the hub answers with its login cookie. No notebook server is started: this is
sign-in only. The same students, from the same stand-in LMS (tests/components/lti_platform.py, whose JWKS
answers after `--jwks-delay-ms`, as an LMS across the campus network does), against, one after the other:

- CampusHub with an `lti` sign-in method (campushub/identity/lti.py): one cached JWKS client per platform,
  asked in a thread;
- stock JupyterHub 6 with `ltiauthenticator.lti13.auth.LTI13Authenticator` for the same platform, whose
  validator makes a new `PyJWKClient` for every launch and fetches the JWKS on the hub's event loop.

Figures: launches completed and failed, the time from the student's click (the login initiation) to signed
in (median, 95th percentile, slowest), the JWKS fetches the hub made, and the CPU of the hub's process during
the burst. The table goes to the terminal, every reading to bench/results/lti-launches-<UTC time>.json with
both hubs' logs beside it; bench/README.md ("LTI launches") says what each figure means.

Exit status: 0 when the benchmark completed (failed launches are results, and listed), 1 when it could not run
or was interrupted (with the reason in one paragraph).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import requests
from ruamel.yaml import YAML

# Run as a script, this file's directory is on sys.path, not the checkout that holds the `bench` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import errors
from bench.accounts import SystemAccounts
from bench.cputree import HUB, TreeCpu
from bench.hubs import PROXY, VENV_BIN, Hub, closed_parent, hub_port
from bench.interrupts import Interrupted, Signals
from bench.report import aligned, log_findings
from bench.summary import percentile
from tests.components.lti_platform import LEARNER, LmsCourse, LmsUser, LtiPlatform, running_platform

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
ORDER = ("campushub", "stock")
SETTLE_S = 3.0  # at least this long between a hub's start and its burst
SETTLE_MAX_S = 30.0  # at most this long, waiting for its process tree to be quiet
QUIET_CORES = 0.1  # quiet: the hub's processes use less than this over a second
LOGIN_COOKIE = "jupyterhub-hub-login"
EMAIL_DOMAIN = "campus.test"
CAMPUS_COURSE = "lecture"
LMS_COURSE = LmsCourse("ctx-lecture-1", "LECTURE-1", "The benchmark's lecture")
CLIENT_ID = "campushub-tool"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="N students launch from the LMS (LTI 1.3) within a window: CampusHub against stock "
        "JupyterHub 6 with ltiauthenticator's LTI13Authenticator."
    )
    parser.add_argument("--students", type=int, default=40, help="number of students (1-999; default 40)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds over which launches start (default 20)")
    parser.add_argument(
        "--jwks-delay-ms", type=float, default=50.0, help="how long the LMS takes to answer a JWKS request (50)"
    )
    parser.add_argument("--only", choices=ORDER, help="run one hub only (no ratios then)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory (default bench/results)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per launch before it fails (60)")
    args = parser.parse_args(argv)
    if not 1 <= args.students <= 999:
        parser.error("--students must be between 1 and 999")
    if args.window < 0 or args.timeout <= 0 or args.jwks_delay_ms < 0:
        parser.error("--window and --jwks-delay-ms must be 0 or more, --timeout more than 0")
    return args


def installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


# The hubs --------------------------------------------------------------------------------------------------------


class LtiCampusHub(Hub):
    """CampusHub from this checkout, set up with its CLI, with one `lti` sign-in method for the platform.

    The LMS course is mapped to a campus.yaml course, as for a lecture already set up. As root, CampusHub makes
    each student's system account (`bl-s001` ...) at their first launch, to make ~/courses/<id> as them: that
    is part of its launch, and the accounts are removed afterwards.
    """

    label = "campushub"
    title = "CampusHub"
    prefix = "bl-"
    method = "lms"

    def __init__(self, students: list[str], accounts: SystemAccounts, platform: LtiPlatform) -> None:
        super().__init__(students, "", accounts, limits=False)
        self.platform = platform
        self.limits.why = "not part of sign-in"

    def hub_username(self, student: str) -> str:
        return student

    def account(self, student: str) -> str:
        return self.prefix + student

    def accounts_of_students(self) -> list[str]:
        return super().accounts_of_students() if os.geteuid() == 0 else []

    def login_url(self) -> str:
        return f"{self.url}/hub/lti/{self.method}/login"

    def target_link_uri(self) -> str:
        """What the LMS is told to launch: the launch URL from CampusHub's config JSON."""
        return f"{self.url}/hub/lti/{self.method}/launch"

    def prepare(self) -> None:
        self.accounts.require_absent(self.accounts_of_students())
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-lti-campushub-"))
        self.port = hub_port()
        campushub = str(VENV_BIN / "campushub")
        self._run(campushub, "init", env={"CAMPUSHUB_ADMIN_PASSWORD": os.urandom(12).hex()})
        config = self.workdir / "campus.yaml"
        yaml = YAML(typ="rt")
        document = yaml.load(config.read_text())
        document.setdefault("listen", {})["port"] = self.port
        compute = document.setdefault("compute", {})
        if compute.get("local") is None:
            compute["local"] = {}
        compute["local"]["user_prefix"] = self.prefix
        sign_in = document.setdefault("sign_in", {})
        sign_in["lti"] = {
            self.method: {
                "issuer": self.platform.issuer,
                "client_id": self.platform.client_id,
                "deployment_ids": [self.platform.deployment_id],
                "auth_login_url": self.platform.auth_url,
                "jwks_url": self.platform.jwks_url,
                "email_domains": [EMAIL_DOMAIN],
                "courses": {LMS_COURSE.label: CAMPUS_COURSE},
            }
        }
        document["courses"] = {CAMPUS_COURSE: {"title": LMS_COURSE.title}}
        with config.open("w") as out:
            yaml.dump(document, out)

    def command(self) -> list[str]:
        return [str(VENV_BIN / "campushub"), "up"]

    def is_ready(self) -> bool:
        return "is ready at" in self.log_text()

    def adopt_accounts(self) -> None:
        self.accounts.adopt(self.accounts_of_students())


STOCK_CONFIG = """\
# Stock JupyterHub for the LTI launch benchmark: ltiauthenticator's LTI 1.3 authenticator, nothing else changed.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = "sqlite:///{workdir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "ltiauthenticator.lti13.auth.LTI13Authenticator"
c.LTI13Authenticator.issuer = {issuer!r}
c.LTI13Authenticator.client_id = [{client_id!r}]
c.LTI13Authenticator.authorize_url = {authorize_url!r}
c.LTI13Authenticator.jwks_endpoint = {jwks_endpoint!r}
c.Authenticator.allow_all = True
"""


class LtiStockJupyterHub(Hub):
    """JupyterHub 6 as installed, with ltiauthenticator 1.6's LTI13Authenticator; its usernames are the emails."""

    label = "stock"
    title = "stock JupyterHub"

    def __init__(self, students: list[str], accounts: SystemAccounts, platform: LtiPlatform) -> None:
        super().__init__(students, "", accounts, limits=False)
        self.platform = platform
        self.limits.why = "not part of sign-in"

    def hub_username(self, student: str) -> str:
        return f"{student}@{EMAIL_DOMAIN}"

    def accounts_of_students(self) -> list[str]:
        return []  # sign-in alone makes no system account

    def login_url(self) -> str:
        return f"{self.url}/hub/lti13/oauth_login"

    def target_link_uri(self) -> str:
        """What the LMS is told to launch: the target from ltiauthenticator's config JSON (the host's root)."""
        return self.url

    def prepare(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-lti-stock-"))
        self.port = hub_port()
        (self.workdir / "jupyterhub_config.py").write_text(
            STOCK_CONFIG.format(
                port=self.port,
                hub_port=self.port + 1,
                proxy_api_port=self.port + 2,
                proxy=str(PROXY),
                workdir=self.workdir,
                issuer=self.platform.issuer,
                client_id=self.platform.client_id,
                authorize_url=self.platform.auth_url,
                jwks_endpoint=self.platform.jwks_url,
            )
        )

    def command(self) -> list[str]:
        return [str(VENV_BIN / "jupyterhub"), "-f", str(self.workdir / "jupyterhub_config.py")]

    def is_ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/hub/api", timeout=2).status_code == 200
        except requests.RequestException:
            return False


HUBS: dict[str, type[LtiCampusHub] | type[LtiStockJupyterHub]] = {
    LtiCampusHub.label: LtiCampusHub,
    LtiStockJupyterHub.label: LtiStockJupyterHub,
}


# One launch ------------------------------------------------------------------------------------------------------


@dataclass
class Launch:
    """One student's launch: when it was planned and began (seconds from the burst's start), when each step
    ended (seconds from the click), and the failure if it did not end signed in."""

    student: str
    planned_s: float
    started_s: float | None = None
    steps_s: dict[str, float] = field(default_factory=dict)
    signed_in_s: float | None = None
    failure: dict | None = None

    @property
    def ok(self) -> bool:
        return self.signed_in_s is not None


class LaunchFailed(Exception):
    def __init__(self, step: str, answer: requests.Response | None, detail: str) -> None:
        super().__init__(detail)
        self.step, self.answer, self.detail = step, answer, detail


def expect(step: str, answer: requests.Response, status: int, check: Callable[[requests.Response], bool]) -> None:
    if answer.status_code != status or not check(answer):
        text = re.sub(r"\s+", " ", answer.text)[-300:]
        raise LaunchFailed(step, answer, f"expected {status}, got {answer.status_code}: {text}")


def launch(hub: Hub, platform: LtiPlatform, user: LmsUser, record: Launch, timeout_s: float) -> None:
    """The browser's part of the flow, with the LMS's own steps done by the stand-in platform."""
    browser = requests.Session()
    clock = time.monotonic()
    deadline = clock + timeout_s

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LaunchFailed(step, None, f"no answer within --timeout {timeout_s:g} s")
        return remaining

    step = "initiation"
    try:
        # 1. The student clicks the link in the LMS: the LMS sends the browser to the tool's login initiation.
        start = platform.initiation_url(hub.login_url(), user, LMS_COURSE, hub.target_link_uri())
        answer = browser.get(start, allow_redirects=False, timeout=left())
        expect(step, answer, 302, lambda a: a.headers.get("Location", "").startswith(platform.auth_url))
        record.steps_s[step] = time.monotonic() - clock
        # 2. The hub's authentication request at the LMS, which answers with the form holding the id_token.
        step = "platform"
        page = browser.get(answer.headers["Location"], timeout=left())
        expect(step, page, 200, lambda a: 'name="id_token"' in a.text)
        action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
        record.steps_s[step] = time.monotonic() - clock
        # 3. The form posts itself to the hub: signed in once the hub answers with its login cookie.
        step = "launch"
        landed = browser.post(action, data=fields, allow_redirects=False, timeout=left())
        expect(step, landed, 302, lambda a: LOGIN_COOKIE in a.cookies)
        record.steps_s[step] = record.signed_in_s = time.monotonic() - clock
    except LaunchFailed as failed:
        record.failure = failure(failed.step, failed.answer, failed.detail)
    except requests.RequestException as exc:
        record.failure = failure(step, None, f"{type(exc).__name__}: {exc}"[:300])


def failure(step: str, answer: requests.Response | None, detail: str) -> dict:
    request = answer.request if answer is not None else None
    return {
        "step": step,
        "status": answer.status_code if answer is not None else None,
        "method": request.method if request is not None else None,
        "url": request.url.split("?")[0] if request is not None and request.url else None,
        "detail": detail,
    }


# One hub ---------------------------------------------------------------------------------------------------------


@dataclass
class HubRun:
    label: str
    title: str
    launches: list[Launch]
    jwks_fetches: int
    jwks_fetches_before: int
    burst_s: float
    settled_s: float
    settle_cores: float
    tree: dict
    hub_cpu_s: float | None
    log: dict


def students(count: int) -> list[LmsUser]:
    return [
        LmsUser(f"lms-s{n:03d}", f"Student {n:03d}", f"s{n:03d}@{EMAIL_DOMAIN}", (LEARNER,))
        for n in range(1, count + 1)
    ]


def burst(hub: Hub, platform: LtiPlatform, users: list[LmsUser], args: argparse.Namespace, stop) -> list[Launch]:
    """Student i clicks at i·window/N seconds, each in a thread of its own, as a room of browsers would."""
    records = [Launch(user.email.split("@")[0], args.window * n / len(users)) for n, user in enumerate(users)]
    begin = time.monotonic()

    def one(n: int) -> None:
        record = records[n]
        if stop.wait(max(0.0, begin + record.planned_s - time.monotonic())):
            record.failure = failure("initiation", None, "the benchmark was interrupted")
            return
        record.started_s = time.monotonic() - begin
        launch(hub, platform, users[n], record, args.timeout)

    with ThreadPoolExecutor(len(users), thread_name_prefix="student") as pool:
        list(pool.map(one, range(len(users))))
    return records


def settle(hub: Hub) -> tuple[float, float]:
    """Wait SETTLE_S, then until the hub's process tree uses less than QUIET_CORES over a second (a hub's services
    may still be starting), at most SETTLE_MAX_S; (seconds waited, cores the tree used in the last second)."""
    assert hub.process is not None
    begin = time.monotonic()
    time.sleep(SETTLE_S)
    cores = 0.0
    while True:
        tree = TreeCpu(hub.process.pid)
        tree.start()
        time.sleep(1.0)
        tree.stop()
        cores = tree.total_s
        if cores < QUIET_CORES or time.monotonic() - begin >= SETTLE_MAX_S:
            return time.monotonic() - begin, cores


def run_hub(
    label: str,
    platform: LtiPlatform,
    users: list[LmsUser],
    args: argparse.Namespace,
    owned: SystemAccounts,
    signals: Signals,
    stem: str,
) -> HubRun:
    names = [user.email.split("@")[0] for user in users]
    hub = HUBS[label](names, owned, platform)
    log: dict = {}
    try:
        print(f"{hub.title}: setting up ...", flush=True)
        hub.prepare()
        before = platform.jwks_fetches
        hub.start()
        settled_s, settle_cores = settle(hub)
        quiet = "quiet" if settle_cores < QUIET_CORES else f"still using {settle_cores:.2f} cores"
        print(
            f"{hub.title}: running at {hub.url}, {quiet} {settled_s:.0f} s after it started; {len(users)} launches "
            f"over {args.window:g} s",
            flush=True,
        )
        fetches_at_start = platform.jwks_fetches
        tree = TreeCpu(hub.process.pid)
        tree.start()
        began = time.monotonic()
        launches = burst(hub, platform, users, args, signals.stop)
        burst_s = time.monotonic() - began
        tree.stop()
        fetches = platform.jwks_fetches - fetches_at_start
        completed = sum(record.ok for record in launches)
        print(
            f"{hub.title}: {completed}/{len(users)} signed in, {burst_s:.0f} s, {fetches} JWKS fetches; stopping it",
            flush=True,
        )
        return HubRun(
            label=label,
            title=hub.title,
            launches=launches,
            jwks_fetches=fetches,
            jwks_fetches_before=fetches_at_start - before,
            burst_s=burst_s,
            settled_s=settled_s,
            settle_cores=settle_cores,
            tree=tree.as_dict(),
            hub_cpu_s=tree.seconds()[HUB],
            log=log,
        )
    finally:
        signals.cleaning = True
        try:
            hub.stop()
            if hub.log_path is not None and hub.log_path.exists():
                saved = args.out / f"{stem}-{label}.log"
                shutil.copyfile(hub.log_path, saved)
                log.update(file=saved.name, **log_findings(hub.log_text()))
            hub.cleanup()
            stuck = owned.remove_all()
            if stuck:
                print(f"Could not remove the accounts {', '.join(stuck)}: remove them with userdel --remove.")
        finally:
            signals.done_cleaning()


# The figures -----------------------------------------------------------------------------------------------------


def summarize(run: HubRun) -> dict:
    times = [record.signed_in_s for record in run.launches if record.signed_in_s is not None]
    return {
        "completed": len(times),
        "failed": len(run.launches) - len(times),
        "signed_in_s": {
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
            "max": max(times) if times else None,
        },
        "steps_p50_s": {
            step: percentile([r.steps_s[step] for r in run.launches if step in r.steps_s], 50)
            for step in ("initiation", "platform", "launch")
        },
        "jwks_fetches": run.jwks_fetches,
        "hub_cpu_s": run.hub_cpu_s,
        "hub_tree_cpu_s": run.tree["total_cpu_s"],
    }


# (row title, unit, key path, format)
ROWS = (
    ("launches completed", "", ("completed",), "{:.0f}"),
    ("launches failed", "", ("failed",), "{:.0f}"),
    ("click to signed in, median", "s", ("signed_in_s", "p50"), "{:.3f}"),
    ("click to signed in, p95", "s", ("signed_in_s", "p95"), "{:.3f}"),
    ("slowest launch", "s", ("signed_in_s", "max"), "{:.3f}"),
    ("JWKS fetches during the burst", "", ("jwks_fetches",), "{:.0f}"),
    ("hub CPU during the burst", "s", ("hub_cpu_s",), "{:.2f}"),
)


def lookup(summary: dict, path: tuple[str, ...]) -> float | None:
    value: object = summary
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, int | float) else None


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def table(summaries: dict[str, dict], titles: dict[str, str]) -> str:
    """Figures down, hubs across, CampusHub / stock last when both ran."""
    labels = list(summaries)
    both = set(ORDER) <= set(labels)
    header = ["metric", *(titles[label] for label in labels)] + (["CampusHub / stock"] if both else [])
    rows = [header]
    for title, unit, path, form in ROWS:
        row = [f"{title} ({unit})" if unit else title]
        values = [lookup(summaries[label], path) for label in labels]
        row += ["-" if value is None else form.format(value) for value in values]
        if both:
            value = ratio(lookup(summaries["campushub"], path), lookup(summaries["stock"], path))
            row.append("-" if value is None or path == ("failed",) else f"{value:.2f}")
        rows.append(row)
    return aligned(rows)


# The command -----------------------------------------------------------------------------------------------------


def preflight(out: Path) -> None:
    if sys.platform != "linux" or not Path("/proc/self/stat").exists():
        raise errors.BenchError(
            "It reads the hub's CPU from Linux's /proc, which this system does not have. Run it on the Linux "
            "machine that runs CampusHub."
        )
    for executable in ("campushub", "jupyterhub"):
        if not os.access(VENV_BIN / executable, os.X_OK):
            raise errors.BenchError(f"{executable} is not installed in the checkout's .venv. Run `make install`.")
    if not os.access(PROXY, os.X_OK):
        raise errors.BenchError(
            "configurable-http-proxy is not installed in the checkout's node_modules. Run `make install` first."
        )
    if installed("jupyterhub-ltiauthenticator") is None:
        raise errors.BenchError(
            "jupyterhub-ltiauthenticator is not installed in the checkout's .venv; the stock hub needs it. "
            "Run `make install` first."
        )
    if os.geteuid() == 0:
        blocked = closed_parent(VENV_BIN / "python")
        if blocked:
            raise errors.BenchError(
                f"CampusHub makes each student's course folder as their own account, which cannot enter {blocked}, "
                "which holds the checkout. Put the checkout where every account may enter (such as /opt/campushub)."
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise errors.BenchError(
            f"The results directory {out} cannot be written ({exc.strerror}). Choose another one with --out."
        ) from None


def benchmark(args: argparse.Namespace, signals: Signals) -> int:
    started = datetime.now(UTC)
    stem = f"lti-launches-{started:%Y%m%dT%H%M%SZ}"
    users = students(args.students)
    order = [args.only] if args.only else list(ORDER)
    owned = SystemAccounts()
    runs: list[HubRun] = []
    try:
        with running_platform(users, client_id=CLIENT_ID, jwks_delay_s=args.jwks_delay_ms / 1000) as platform:
            for index, label in enumerate(order):
                if index:
                    time.sleep(SETTLE_S)
                runs.append(run_hub(label, platform, users, args, owned, signals, stem))
            issued = len(platform.launches)
    finally:
        signals.cleaning = True
        owned.remove_all()
        signals.done_cleaning()

    summaries = {run.label: summarize(run) for run in runs}
    titles = {run.label: run.title for run in runs}
    parameters = {
        "students": args.students,
        "window_s": args.window,
        "jwks_delay_ms": args.jwks_delay_ms,
        "per_launch_timeout_s": args.timeout,
        "settle_s": {"min": SETTLE_S, "max": SETTLE_MAX_S, "quiet_below_cores": QUIET_CORES},
        "order": order,
        "as_root": os.geteuid() == 0,
    }
    environment = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "versions": {
            package: installed(package)
            for package in ("campushub", "jupyterhub", "jupyterhub-ltiauthenticator", "PyJWT", "tornado")
        },
    }
    document = {
        "benchmark": "lti-launches",
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": parameters,
        "environment": environment,
        "id_tokens_issued": issued,
        "hubs": {
            run.label: {
                "title": run.title,
                "summary": summaries[run.label],
                "jwks_fetches_while_starting": run.jwks_fetches_before,
                "burst_s": round(run.burst_s, 3),
                "settled_before_burst_s": round(run.settled_s, 1),
                "tree_cores_in_last_second_before_burst": round(run.settle_cores, 3),
                "hub_tree": run.tree,
                "log": run.log,
                "launches": [asdict(record) for record in run.launches],
            }
            for run in runs
        },
        "ratios_campushub_over_stock": {
            " ".join(path): ratio(lookup(summaries["campushub"], path), lookup(summaries["stock"], path))
            for _, _, path, _ in ROWS
        }
        if set(ORDER) <= set(summaries)
        else None,
    }
    json_path = args.out / f"{stem}.json"
    json_path.write_text(json.dumps(document, indent=1) + "\n")

    versions = environment["versions"]
    print()
    print(
        f"LTI launches: {args.students} students launching from the LMS over {args.window:g} s; the LMS answers "
        f"its JWKS after {args.jwks_delay_ms:g} ms; per-launch timeout {args.timeout:g} s"
    )
    print(
        f"{environment['cpus']} CPUs; JupyterHub {versions['jupyterhub']}, jupyterhub-ltiauthenticator "
        f"{versions['jupyterhub-ltiauthenticator']}, PyJWT {versions['PyJWT']}; hubs in turn: {', '.join(order)}"
    )
    print(table(summaries, titles))
    lines = []
    for run in runs:
        failed = [record for record in run.launches if record.failure]
        for record in failed[:5]:
            f = record.failure
            lines.append(f"  {run.label}: {record.student} {f['step']}: {f['status']} {f['method']} {f['url']} "
                         f"({f['detail'][:120]})")  # fmt: skip
        if len(failed) > 5:
            lines.append(f"  {run.label}: ... and {len(failed) - 5} more (all in the JSON)")
    if lines:
        print("\nFailed launches (first few per hub):")
        print("\n".join(lines))
    for run in runs:
        if run.tree.get("error"):
            print(f"\nNote: {run.title}'s CPU sampling stopped ({run.tree['error']}); its CPU figure is incomplete.")
        if run.log.get("error_lines"):
            print(f"\n{run.title} log: {run.log['error_lines']} error lines, e.g. {run.log['first_errors'][0][:200]}")
    print(f"\nResults: {json_path}")
    return 0


def say(paragraph: str) -> None:
    print("\n" + textwrap.fill(paragraph, width=100), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signals = Signals(threading.Event())
    signals.install()
    try:
        preflight(args.out)
        return benchmark(args, signals)
    except errors.BenchError as problem:
        say(f"The benchmark could not run. {problem}")
        return 1
    except (OSError, subprocess.SubprocessError) as problem:
        say(f"The benchmark could not run: {problem}")
        return 1
    except Interrupted as interrupted:
        say(
            f"Interrupted ({interrupted}). The hubs and proxies it started were stopped and the accounts CampusHub "
            "created for the students were removed; no results were written."
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
