"""The library against a real hub: publish with `campushub library publish`, read as anyone, private to its owner.

Everything goes through the hub's proxy at /services/library/, as a visitor's browser would, and the
owner signs in through the hub's own OAuth.
"""

from __future__ import annotations

import html
import json
import pwd
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import requests

from tests.components.git_http import running_git_host
from tests.helpers.hub import TEST_USER_PREFIX
from tests.helpers.hubclient import Student
from tests.helpers.sign_in import running_student

pytestmark = pytest.mark.integration

PASSWORD = "library-password-1"
LIBRARY = "/services/library/"


def notebook(*cells: dict) -> str:
    return json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(source: str, text: str) -> dict:
    return {
        "cell_type": "code",
        "metadata": {},
        "execution_count": 1,
        "source": source,
        "outputs": [{"output_type": "stream", "name": "stdout", "text": text}],
    }


def worked_example(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "regression.ipynb").write_text(
        notebook(markdown("# Least squares, worked"), code("print(6 * 7)", "42\n")), encoding="utf-8"
    )
    (root / "data.csv").write_text("x,y\n1,2\n2,4\n", encoding="utf-8")
    (root / ".env").write_text("TOKEN=not-for-the-public\n", encoding="utf-8")
    return root


def publish(campus, folder: Path, *args: str) -> str:
    result = campus.cli("library", "publish", str(folder), "--owner", "lena", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_for_library(url: str) -> requests.Response:
    """The library is a service the hub starts beside itself: it may need a moment after the hub is up."""
    deadline = time.monotonic() + 60
    while True:
        response = requests.get(url + LIBRARY, timeout=10)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_a_published_notebook_is_read_by_anyone_and_the_private_one_by_its_owner_only(campus, hub, tmp_path):
    example = worked_example(tmp_path / "week-3")
    printed = publish(campus, example, "--title", "Week 3: regression", "--tag", "stats", "--licence", "CC-BY-4.0")
    assert "Published lena/week-3-regression version 1 (2 files" in printed, printed
    assert f"{LIBRARY}p/lena/week-3-regression/" in printed
    publish(campus, example, "--title", "Draft", "--project", "draft", "--visibility", "private")

    gallery = wait_for_library(hub.url)
    assert gallery.status_code == 200, gallery.text
    assert "Week 3: regression" in gallery.text and "Draft" not in gallery.text
    assert "script-src" not in gallery.headers["Content-Security-Policy"]
    assert "default-src 'none'" in gallery.headers["Content-Security-Policy"]

    anonymous = requests.Session()
    page = anonymous.get(f"{hub.url}{LIBRARY}p/lena/week-3-regression/", timeout=10)
    assert page.status_code == 200, page.text
    assert "regression.ipynb" in page.text and "data.csv" in page.text
    assert ".env" not in page.text, "hidden files are never published"
    assert "CC-BY-4.0" in page.text

    rendered = anonymous.get(f"{hub.url}{LIBRARY}p/lena/week-3-regression/v/1/f/regression.ipynb", timeout=30)
    assert rendered.status_code == 200, rendered.text
    assert "Least squares, worked" in rendered.text and "42" in rendered.text
    policy = rendered.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "script-src" not in policy.replace("script-src 'none'", "")
    assert rendered.headers["X-Content-Type-Options"] == "nosniff"
    assert not any(cookie.name.startswith("jupyterhub") for cookie in anonymous.cookies)

    raw = anonymous.get(f"{hub.url}{LIBRARY}p/lena/week-3-regression/v/1/raw/data.csv", timeout=10)
    assert raw.content == b"x,y\n1,2\n2,4\n"
    assert raw.headers["Content-Disposition"].startswith("attachment")

    assert anonymous.get(f"{hub.url}{LIBRARY}p/lena/draft/", timeout=10).status_code == 404

    campus.add_user("lena", PASSWORD)
    campus.add_user("omar", PASSWORD)
    for name, status in (("lena", 200), ("omar", 404)):
        person = Student(hub.url, name)
        person.sign_in(PASSWORD)
        signed_in = person.session.get(f"{hub.url}{LIBRARY}signin?next={LIBRARY}p/lena/draft/", timeout=30)
        assert signed_in.url.endswith(f"{LIBRARY}p/lena/draft/"), signed_in.url
        assert signed_in.status_code == status, (name, signed_in.text)
        raw = person.session.get(f"{hub.url}{LIBRARY}p/lena/draft/v/1/raw/data.csv", timeout=10)
        assert raw.status_code == status, name


def test_names_in_urls_never_lead_outside_a_version_and_sign_in_never_leaves_the_library(campus, hub, tmp_path):
    publish(campus, worked_example(tmp_path / "w"), "--title", "Paths")
    wait_for_library(hub.url)
    base = f"{hub.url}{LIBRARY}p/lena/paths/v/1/"
    for path in (
        "f/..%2F..%2F..%2Fcampushub.sqlite",
        "raw/%2Fetc%2Fpasswd",
        "raw/.env",
        "f/%2E%2E/%2E%2E/%2E%2E/campushub.sqlite",
        "raw/nothing.csv",
    ):
        response = requests.get(base + path, timeout=10, allow_redirects=False)
        assert response.status_code == 404, (path, response.status_code, response.text[:200])
        assert "root:" not in response.text and "SQLite" not in response.text
    assert requests.get(f"{hub.url}{LIBRARY}p/lena/paths/v/2/", timeout=10).status_code == 404

    campus.add_user("lena", PASSWORD)
    lena = Student(hub.url, "lena")
    lena.sign_in(PASSWORD)
    for target in ("https://evil.example/", "//evil.example/", "/hub/admin", f"{LIBRARY}/\\evil.example"):
        response = lena.session.get(f"{hub.url}{LIBRARY}signin", params={"next": target}, timeout=30)
        assert response.url == f"{hub.url}{LIBRARY}", (target, response.url)


def copy_form(person: Student, url: str) -> tuple[str, str]:
    """The project page's copy form, as a browser submits it: its action and its XSRF token."""
    page = person.session.get(url, timeout=30)
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+/copy)"', page.text)
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert action and token, page.text
    return action.group(1), token.group(1)


def test_a_copy_lands_in_the_readers_own_workspace_as_them_and_never_replaces_their_work(campus, hub, tmp_path):
    publish(campus, worked_example(tmp_path / "w"), "--title", "Week 3", "--project", "week-3")
    wait_for_library(hub.url)
    campus.add_user("omar", PASSWORD)
    omar = Student(hub.url, "omar")
    omar.sign_in(PASSWORD)
    project = f"{hub.url}{LIBRARY}p/lena/week-3/"
    omar.session.get(f"{hub.url}{LIBRARY}signin?next={LIBRARY}p/lena/week-3/", timeout=30)
    action, token = copy_form(omar, project)

    refused = requests.post(f"{hub.url}{action}", data={"_xsrf": token}, timeout=30, allow_redirects=False)
    assert refused.status_code in (302, 403), "an anonymous copy is refused"
    forged = omar.session.post(f"{hub.url}{action}", timeout=30, allow_redirects=False)
    assert forged.status_code == 403, "a copy without the form's XSRF token is refused"

    copied = omar.session.post(f"{hub.url}{action}", data={"_xsrf": token}, timeout=60, allow_redirects=False)
    assert copied.status_code == 302, copied.text
    lab = "/hub/user-redirect/lab/tree/library/lena-week-3/regression.ipynb"
    assert copied.headers["Location"] == f"/hub/spawn?next={quote(lab, safe='')}"
    account = pwd.getpwnam(f"{TEST_USER_PREFIX}omar")
    folder = Path(account.pw_dir) / "library" / "lena-week-3"
    assert sorted(p.name for p in folder.iterdir()) == ["data.csv", "regression.ipynb"]
    assert (folder / "data.csv").read_text() == "x,y\n1,2\n2,4\n"
    for path in (folder, folder / "data.csv", folder.parent):
        assert path.stat().st_uid == account.pw_uid, f"{path} is not omar's"

    # Omar changes his copy; a second copy is a new folder, his work untouched.
    (folder / "data.csv").write_text("omar's own data\n")
    again = omar.session.post(f"{hub.url}{action}", data={"_xsrf": token}, timeout=60, allow_redirects=False)
    assert again.status_code == 302
    assert "library/lena-week-3-2/regression.ipynb" in unquote(again.headers["Location"])
    assert (folder / "data.csv").read_text() == "omar's own data\n"
    assert (folder.parent / "lena-week-3-2" / "data.csv").read_text() == "x,y\n1,2\n2,4\n"

    # Following the redirect starts his server; JupyterLab then has the notebook.
    omar.session.get(f"{hub.url}{copied.headers['Location']}", timeout=60)
    omar.wait_for_server()
    notebook = omar.server_api("GET", "/contents/library/lena-week-3/regression.ipynb")
    assert notebook.status_code == 200, notebook.text
    assert notebook.json()["content"]["cells"][0]["source"] == "# Least squares, worked"


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[str]:
    """A git repository served by git's own smart-HTTP backend on loopback, as a campus GitLab would serve it."""
    work = tmp_path / "course-repo"
    work.mkdir()
    (work / "intro.ipynb").write_text(notebook(markdown("# Cloned by a launch link")), encoding="utf-8")
    (work / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    run = {"check": True, "capture_output": True, "cwd": work}
    subprocess.run(["git", "init", "-q", "-b", "main"], **run)
    subprocess.run(["git", "add", "."], **run)
    identity = ["-c", "user.name=Lecturer", "-c", "user.email=lecturer@example.edu"]
    subprocess.run(["git", *identity, "commit", "-q", "-m", "Week 1"], **run)
    served = tmp_path / "served"
    served.mkdir()
    bare = served / "course.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, capture_output=True)
    with running_git_host(served) as base:
        yield f"{base}/course.git"


def launch_form(person: Student, url: str, params: dict) -> requests.Response:
    return person.session.get(f"{url}{LIBRARY}launch", params=params, timeout=30)


def test_a_git_launch_clones_into_the_workspace_once_and_keeps_it(campus, hub_factory, git_server):
    # Its requirements.txt names numpy, from an index no test can reach: the build has a test of its own below.
    campus.update(
        **{"library.launch_hosts": ["127.0.0.1"], "library.launch_schemes": ["http"], "environments.enabled": False}
    )
    hub = hub_factory()
    wait_for_library(hub.url)
    campus.add_user("omar", PASSWORD)
    omar = Student(hub.url, "omar")
    omar.sign_in(PASSWORD)
    omar.session.get(f"{hub.url}{LIBRARY}signin", timeout=30)

    for repo, reason in (
        ("ext::sh%20-c%20touch%20/tmp/pwned", "not git's transport helpers"),
        ("file:///etc", "not git's transport helpers"),
        ("ext::sh -c touch% /tmp/pwned", "characters a URL does not"),
        ("https://127.0.0.1/course.git", "must begin with http://"),
        ("-uploadpack=touch /tmp/pwned", "characters a URL does not"),
        ("http://evil.example/x.git", "evil.example is not among the hosts"),
        ("http://user:secret@127.0.0.1/x.git", "may not carry a user name"),
    ):
        refused = launch_form(omar, hub.url, {"repo": repo})
        assert refused.status_code == 400 and reason in html.unescape(refused.text), (repo, refused.text[-600:])

    # The short link on the hub leads to the same page, with nothing but the launch's own arguments.
    short = omar.session.get(
        f"{hub.url}/hub/launch",
        params={"repo": git_server, "ref": "main", "path": "intro.ipynb", "next": "https://evil.example/"},
        allow_redirects=False,
        timeout=30,
    )
    assert short.status_code == 302 and short.headers["Location"].startswith(f"{LIBRARY}launch?repo=")
    assert "evil" not in short.headers["Location"]
    for path in ("/hub/library/", "/hub/library/lena/", "/hub/library/lena/worked/launch"):
        moved = requests.get(hub.url + path, allow_redirects=False, timeout=30)
        assert moved.status_code == 302 and moved.headers["Location"].startswith(LIBRARY), (path, moved.headers)
    for path in ("/hub/library//evil.example/", "/hub/library/lena/x/launch/../../..%2F..%2Fevil"):
        assert requests.get(hub.url + path, allow_redirects=False, timeout=30).status_code == 404, path

    page = launch_form(omar, hub.url, {"repo": git_server, "ref": "main", "path": "intro.ipynb"})
    assert page.status_code == 200, page.text
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    form = {"_xsrf": token, "repo": git_server, "ref": "main", "path": "intro.ipynb"}
    launched = omar.session.post(f"{hub.url}{LIBRARY}launch", data=form, timeout=120, allow_redirects=False)
    assert launched.status_code == 302, launched.text
    folder_name = "127.0.0.1-course"
    assert f"library/{folder_name}/intro.ipynb" in unquote(launched.headers["Location"])
    account = pwd.getpwnam(f"{TEST_USER_PREFIX}omar")
    clone = Path(account.pw_dir) / "library" / folder_name
    assert (clone / "intro.ipynb").exists() and (clone / ".git").is_dir()
    assert clone.stat().st_uid == account.pw_uid and (clone / "intro.ipynb").stat().st_uid == account.pw_uid

    # Tomorrow: the same link opens the same folder, with Omar's changes kept.
    (clone / "intro.ipynb").write_text("omar's edits", encoding="utf-8")
    again = omar.session.post(f"{hub.url}{LIBRARY}launch", data=form, timeout=120, allow_redirects=False)
    assert again.status_code == 302
    assert (clone / "intro.ipynb").read_text(encoding="utf-8") == "omar's edits"
    assert not list(clone.parent.glob(f"{folder_name}-*")), "no second clone"

    # A link may pin a commit, as Binder links often do; a commit that is not there fails with nothing left over.
    commit = subprocess.run(["git", "ls-remote", git_server, "main"], capture_output=True, text=True, check=True)
    commit_id = commit.stdout.split()[0]
    campus.add_user("nia", PASSWORD)
    nia = Student(hub.url, "nia")
    nia.sign_in(PASSWORD)
    nia.session.get(f"{hub.url}{LIBRARY}signin", timeout=30)
    nia_home = Path(pwd.getpwnam(f"{TEST_USER_PREFIX}nia").pw_dir)
    missing = {"_xsrf": token, "repo": git_server, "ref": "0" * 40, "path": "intro.ipynb"}
    page = launch_form(nia, hub.url, missing)
    missing["_xsrf"] = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    refused = nia.session.post(f"{hub.url}{LIBRARY}launch", data=missing, timeout=120, allow_redirects=False)
    assert refused.status_code == 502 and "has no commit" in html.unescape(refused.text), refused.text[-1500:]
    assert not list((nia_home / "library").iterdir()), "a failed launch leaves no folder behind"
    pinned = nia.session.post(
        f"{hub.url}{LIBRARY}launch", data={**missing, "ref": commit_id}, timeout=120, allow_redirects=False
    )
    assert pinned.status_code == 302, pinned.text[-1500:]
    nias_clone = nia_home / "library" / folder_name
    head = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(nias_clone), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert head.stdout.strip() == commit_id
    assert (nia_home / "library" / folder_name / "intro.ipynb").stat().st_uid == pwd.getpwnam(
        f"{TEST_USER_PREFIX}nia"
    ).pw_uid


def test_a_folder_of_ones_workspace_is_published_from_the_library_as_its_owner_reads_it(campus, hub, tmp_path):
    omar = running_student(campus, hub, "omar")
    account = pwd.getpwnam(f"{TEST_USER_PREFIX}omar")
    work = worked_example(Path(account.pw_dir) / "week-5")
    (work / "shadow").symlink_to("/etc/shadow")
    subprocess.run(["chown", "-R", "--no-dereference", f"{account.pw_uid}:{account.pw_gid}", str(work)], check=True)
    omar.session.get(f"{hub.url}{LIBRARY}signin?next={LIBRARY}publish", timeout=30)
    form = omar.session.get(f"{hub.url}{LIBRARY}publish", params={"folder": "week-5"}, timeout=30)
    assert form.status_code == 200 and 'value="week-5"' in form.text, form.text
    token = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)

    def publish_form(**fields: str) -> requests.Response:
        data = {"_xsrf": token, "title": "Week 5", "visibility": "public", **fields}
        return omar.session.post(f"{hub.url}{LIBRARY}publish", data=data, timeout=60, allow_redirects=False)

    for folder, reason in (("../../etc", "is not a file of this project"), ("nothing-here", "is not a folder")):
        refused = publish_form(folder=folder)
        assert refused.status_code == 400 and reason in html.unescape(refused.text), (folder, refused.text[-500:])

    published = publish_form(folder="week-5", tags="stats", note="First cut")
    assert published.status_code == 302, published.text
    assert published.headers["Location"] == f"{LIBRARY}p/omar/week-5/"
    page = requests.get(f"{hub.url}{LIBRARY}p/omar/week-5/", timeout=10)
    assert page.status_code == 200 and "regression.ipynb" in page.text and "First cut" in page.text
    assert ".env" not in page.text and "shadow" not in page.text, "hidden files and links stay home"
    incoming = campus.directory / "data" / "library" / ".incoming"
    assert list(incoming.iterdir()) == [], "the staging copy is gone"


def bare_repository(served: Path, name: str, files: dict[str, str]) -> None:
    work = served.parent / f"{name}-work"
    work.mkdir()
    for path, text in files.items():
        (work / path).write_text(text, encoding="utf-8")
    run = {"check": True, "capture_output": True, "cwd": work}
    subprocess.run(["git", "init", "-q", "-b", "main"], **run)
    subprocess.run(["git", "add", "."], **run)
    subprocess.run(["git", "-c", "user.name=L", "-c", "user.email=l@example.edu", "commit", "-q", "-m", "1"], **run)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(served / f"{name}.git")], **run)


def launch(person: Student, url: str, repo: str, path: str) -> requests.Response:
    page = launch_form(person, url, {"repo": repo, "ref": "main", "path": path})
    assert page.status_code == 200, page.text
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
    form = {"_xsrf": token, "repo": repo, "ref": "main", "path": path}
    launched = person.session.post(f"{url}{LIBRARY}launch", data=form, timeout=120, allow_redirects=False)
    assert launched.status_code in (302, 400), launched.text
    return launched


def wait_for_build(person: Student, url: str, location: str) -> requests.Response:
    """The build page refreshes itself while building; it redirects to JupyterLab once ready."""
    deadline = time.monotonic() + 300
    while True:
        page = person.session.get(url + location, timeout=30, allow_redirects=False)
        if page.status_code == 302 or "could not be built" in page.text or time.monotonic() > deadline:
            return page
        assert "Building the environment" in page.text, page.text
        time.sleep(1)


def test_a_launch_builds_the_repositorys_packages_once_as_a_kernel_everyone_shares(
    campus, hub_factory, tmp_path, package_index, environments_dir, build_account
):
    served = tmp_path / "served"
    served.mkdir()
    intro = json.dumps(
        {"cells": [], "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    )
    bare_repository(served, "greeting", {"intro.ipynb": intro, "requirements.txt": "campushub-demo-greeting==1.0\n"})
    bare_repository(served, "broken", {"intro.ipynb": intro, "requirements.txt": "campushub-no-such-package\n"})
    bare_repository(
        served, "sneaky", {"intro.ipynb": intro, "requirements.txt": "--index-url http://evil.example/\nx\n"}
    )
    builder = build_account
    campus.update(
        **{
            "library.launch_hosts": ["127.0.0.1"],
            "library.launch_schemes": ["http"],
            "environments.directory": str(environments_dir),
            "environments.index_url": package_index.url,
            "environments.builder_account": builder,
        }
    )
    hub = hub_factory()
    wait_for_library(hub.url)
    people = {}
    for name in ("omar", "pia"):
        campus.add_user(name, PASSWORD)
        people[name] = Student(hub.url, name)
        people[name].sign_in(PASSWORD)
        people[name].session.get(f"{hub.url}{LIBRARY}signin", timeout=30)

    with running_git_host(served) as base:
        launched = launch(people["omar"], hub.url, f"{base}/greeting.git", "intro.ipynb")
        location = launched.headers["Location"]
        assert re.match(rf"{LIBRARY}environments/[0-9a-f]{{20}}/\?open=", location), location
        key = re.search(r"environments/([0-9a-f]{20})/", location).group(1)
        ready = wait_for_build(people["omar"], hub.url, location)
        assert ready.status_code == 302, ready.text[-3000:]
        assert "library/127.0.0.1-greeting/intro.ipynb" in unquote(ready.headers["Location"])

        # Built as the build account, never root; the clone's notebook now asks for the built kernel.
        environment = environments_dir / key
        assert environment.stat().st_uid == pwd.getpwnam(builder).pw_uid != 0
        home = Path(pwd.getpwnam(f"{TEST_USER_PREFIX}omar").pw_dir)
        clone_notebook = json.loads((home / "library/127.0.0.1-greeting/intro.ipynb").read_text())
        assert clone_notebook["metadata"]["kernelspec"]["name"] == f"campushub-env-{key}"

        # The kernel runs in Omar's own server, as Omar, with the package from the index.
        omar = people["omar"]
        omar.wait_for_server()  # signing in started it
        kernel = omar.kernel(f"campushub-env-{key}")
        try:
            said = kernel.execute(
                "import campushub_demo_greeting, os; print(campushub_demo_greeting.GREETING, os.getuid())"
            )
        finally:
            kernel.close()
        assert said.split() == ["hello", "from", "the", "index", str(pwd.getpwnam(f"{TEST_USER_PREFIX}omar").pw_uid)]

        # Pia launches the same repository: the environment is there, nothing is built or downloaded again.
        downloads = list(package_index.requests)
        again = launch(people["pia"], hub.url, f"{base}/greeting.git", "intro.ipynb")
        assert "/hub/spawn?next=" in again.headers["Location"], again.headers["Location"]
        assert package_index.requests == downloads

        # A package the index does not have: the page shows what pip said, and offers the files anyway.
        broken = launch(omar, hub.url, f"{base}/broken.git", "intro.ipynb")
        failed = wait_for_build(omar, hub.url, broken.headers["Location"])
        text = html.unescape(failed.text)
        assert failed.status_code == 200 and "could not be built" in text, text[-2000:]
        assert "No matching distribution found for campushub-no-such-package" in text
        assert "open it with the standard Python kernel" in text
        broken_key = re.search(r"environments/([0-9a-f]{20})/", broken.headers["Location"]).group(1)
        assert not (environments_dir / broken_key).exists(), "a failed build leaves only its log"

        # A requirements file that points pip elsewhere is refused before anything runs, naming the line.
        sneaky = launch(omar, hub.url, f"{base}/sneaky.git", "intro.ipynb")
        assert sneaky.status_code == 400
        assert "requirements.txt, line 1: `--index-url` is not allowed" in html.unescape(sneaky.text)
        assert (home / "library/127.0.0.1-sneaky/intro.ipynb").exists(), "the clone is kept all the same"
