"""The library service: the gallery, project pages and rendered files, for anyone; private projects for their owners.

It runs beside the hub as a JupyterHub service (campushub/services/builtin.py), proxied at
/services/library/. Pages are read by anonymous visitors, so the service never trusts what a
publisher wrote: names and descriptions are escaped by the templates, files are rendered by
campushub/library/render.py (sanitized, under a Content-Security-Policy that allows no script), and
raw files are served as downloads. Who is looking matters only for private projects and one's own
profile page: the hub's OAuth says who, when they choose to sign in.

With `library.public_url`, rendered files and downloads are served only on that separate origin, which
never receives the hub's cookies.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse
from xml.sax.saxutils import escape as xml_escape

import jinja2
from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

from campushub.compute.backend import WorkspaceAccount, backend_for
from campushub.config.schema import CampusConfig
from campushub.config.snapshot import read_snapshot, snapshot_path
from campushub.environments.builder import EnvironmentBuilder, settings_for
from campushub.environments.spec import SpecRefused
from campushub.errors import UserError
from campushub.hub.layout import Layout, database_url, layout_for
from campushub.library import copy, git_launch, render
from campushub.library.cache import RenderCache
from campushub.library.launch_build import LaunchBuilds
from campushub.library.store import (
    PRIVATE,
    LibraryRefused,
    LibraryStore,
    Metadata,
    ProjectInfo,
    check_relative_path,
    human_size,
    slug_for,
)
from campushub.library.tables import PUBLIC, VISIBILITIES

log = logging.getLogger("campushub.library")
HERE = Path(__file__).parent
# Pages of the service itself hold no publisher HTML and need no script at all.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
RAW_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["urlencode"] = lambda value: quote(str(value), safe="/")
    return environment


def changes_text(changes: dict[str, list[str]]) -> str:
    parts = []
    for kind in ("added", "changed", "removed"):
        names = changes.get(kind) or []
        if names:
            shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
            parts.append(f"{kind} {shown}")
    return "; ".join(parts).capitalize()


class LibraryHandler(HubOAuthenticated, web.RequestHandler):
    """Common to every page: who looks (if signed in), the store, templates, and safe headers."""

    @property
    def store(self) -> LibraryStore:
        return self.settings["store"]

    @property
    def config(self) -> CampusConfig:
        return self.settings["campus"]

    @property
    def prefix(self) -> str:
        return self.settings["prefix"]

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", PAGE_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Frame-Options", "DENY")

    def viewer(self) -> str | None:
        """The signed-in person's name; None for an anonymous visitor (never a redirect to sign in)."""
        if not self.settings.get("public_host") or self.request.host != self.settings["public_host"]:
            user = self.get_current_user()
            if user:
                return user["name"]
        return None

    def page(self, template: str, status: int = 200, **values: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store" if values.get("viewer") else "public, max-age=60")
        values.setdefault("query", "")
        values.setdefault("viewer", None)
        self.finish(
            self.settings["templates"]
            .get_template(template)
            .render(
                campus=self.config.name,
                prefix=self.prefix,
                hub_home=self.settings["hub_prefix"] + "home",
                here=self.request.uri,
                # Only a signed-in person posts (a copy); anonymous pages set no cookie at all.
                xsrf_form_html=self.xsrf_form_html() if values["viewer"] else "",
                **values,
            )
        )

    def not_found(self, what: str, viewer: str | None) -> None:
        self.page(
            "message.html",
            404,
            title="Not found",
            heading="Not found",
            message=f"{what} is not in the library, or is not shared with you.",
            sign_in=viewer is None,
            viewer=viewer,
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.page(
            "message.html",
            status_code,
            title="Error",
            heading=f"Error {status_code}",
            message=self._reason,
            sign_in=False,
        )

    def open_in_lab(self, path: str) -> None:
        """To `path` (under the person's home) in their JupyterLab."""
        self.redirect(self.lab_url(path))

    def lab_url(self, path: str) -> str:
        """/hub/spawn starts the person's server first if it is not running (with the profile form if there is
        one), then goes on to `path` in JupyterLab."""
        lab = f"{self.settings['hub_prefix']}user-redirect/lab/tree/{quote(path)}"
        return f"{self.settings['hub_prefix']}spawn?next={quote(lab, safe='')}"

    def files_origin(self) -> str:
        """Where rendered files and downloads are served: the separate library origin when configured."""
        public = self.config.library.public_url
        return public.rstrip("/") if public else ""


class GalleryHandler(LibraryHandler):
    def get(self) -> None:
        viewer = self.viewer()
        query, tag = self.get_argument("q", "").strip()[:200], self.get_argument("tag", "").strip()[:40]
        projects = self.store.gallery(viewer=viewer, query=query, tag=tag)
        heading = f"Projects matching “{query}”" if query else "The library"
        self.page(
            "gallery.html",
            title="Library",
            heading=heading,
            intro=""
            if query or tag
            else "Projects published by people of this campus. Read them here, or copy one "
            "into your workspace to run it.",
            projects=projects,
            tag=tag,
            query=query,
            empty="No public project matches." if query or tag else "Nothing has been published yet.",
            viewer=viewer,
        )


class ProfileHandler(LibraryHandler):
    def get(self, owner: str) -> None:
        viewer = self.viewer()
        projects = self.store.gallery(viewer=viewer, owner=owner)
        mine = viewer == owner
        self.page(
            "gallery.html",
            title=owner,
            heading=f"{owner}'s projects" if not mine else "Your projects",
            intro="Public, unlisted and private: only you see this list with all three." if mine else "",
            projects=projects,
            tag="",
            empty=f"{owner} has published no public project.",
            viewer=viewer,
        )


class CourseShelfHandler(LibraryHandler):
    def get(self, course: str) -> None:
        viewer = self.viewer()
        known = self.config.courses.get(course)
        if known is None:
            return self.not_found(f"The course {course}", viewer)
        self.page(
            "gallery.html",
            title=known.title or course,
            heading=f"{known.title or course}: published materials",
            intro="",
            projects=self.store.gallery(viewer=viewer, course=course),
            tag="",
            empty="Nothing has been published for this course yet.",
            viewer=viewer,
        )


class ProjectHandler(LibraryHandler):
    def get(self, owner: str, slug: str, number: str | None = None) -> None:
        viewer = self.viewer()
        project = self.store.project(owner, slug, viewer)
        if project is None:
            return self.not_found(f"The project {owner}/{slug}", viewer)
        versions = self.store.versions(owner, slug)
        chosen = next((v for v in versions if str(v.number) == (number or str(project.latest))), None)
        if chosen is None:
            return self.not_found(f"Version {number} of {owner}/{slug}", viewer)
        origin = self.files_origin() if project.visibility != PRIVATE else ""
        site = self.settings["hub_origin"] or f"{self.request.protocol}://{self.request.host}"
        files_base = f"{origin}{self.prefix}p/{owner}/{slug}/v/{chosen.number}/"
        files = [
            {"path": f.path, "size": human_size(f.size), "viewable": render.kind_of(f.path) is not None}
            for f in self.store.list_files(owner, slug, chosen.number)
        ]
        self.page(
            "project.html",
            title=project.title,
            project=project,
            version=chosen,
            versions=[
                {**v.__dict__, "size_text": human_size(v.size), "changes_text": changes_text(v.changes)}
                for v in versions
            ],
            files=files,
            files_base=files_base,
            library_url=f"{site}{self.prefix}",
            hub_url=f"{site}{self.settings['hub_prefix']}",
            viewer=viewer,
        )


class FileHandler(LibraryHandler):
    """A rendered file (`f/`) or its bytes (`raw/`): only these ever carry what a publisher wrote."""

    def set_default_headers(self) -> None:
        for name, value in render.SECURITY_HEADERS.items():
            self.set_header(name, value)

    def visible(self, owner: str, slug: str, number: str) -> ProjectInfo | None:
        project = self.store.project(owner, slug, self.viewer())
        if project is None or not number.isdigit() or not 1 <= int(number) <= project.latest:
            return None
        return project

    def on_hub_origin_with_public_url(self) -> bool:
        public = self.config.library.public_url
        return bool(public) and self.request.host != urlparse(public).netloc

    async def get(self, owner: str, slug: str, number: str, mode: str, path: str) -> None:
        project = self.visible(owner, slug, number)
        if project is None:
            raise web.HTTPError(404)
        if project.visibility != PRIVATE and self.on_hub_origin_with_public_url():
            # Publisher content is read on the library's own origin, never the hub's. A private project is
            # read only by its owner, signed in on the hub's origin: it stays there, sandboxed all the same.
            return self.redirect(self.files_origin() + self.request.uri)
        try:
            target = self.store.file_path(owner, slug, int(number), path)
        except LibraryRefused:
            raise web.HTTPError(404) from None
        if mode == "raw":
            return self.raw(target)
        raw_url = f"{self.prefix}p/{owner}/{slug}/v/{number}/raw/{quote(path)}"
        try:
            # Rendering a large notebook takes seconds: off the event loop, so other pages are served meanwhile.
            rendered = await IOLoop.current().run_in_executor(
                None, self.rendered, owner, slug, int(number), path, target, raw_url
            )
            kind, body = rendered.kind, rendered.body
        except render.RenderRefused as refused:
            kind, body = "refused", f"<p>{web.escape.xhtml_escape(str(refused))}</p>"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=300" if project.visibility != PRIVATE else "no-store")
        self.finish(
            self.settings["templates"]
            .get_template("file.html")
            .render(
                name=path,
                project=project,
                number=number,
                kind=kind,
                body=body,
                page_css=render.PAGE_CSS,
                raw_url=raw_url,
                project_url=f"{self.settings['hub_origin']}{self.prefix}p/{owner}/{slug}/v/{number}/",
            )
        )

    def rendered(self, owner: str, slug: str, number: int, path: str, target: Path, raw_url: str) -> render.Rendered:
        """The file rendered once per version (the cache), or RenderRefused (checked before reading a large file)."""
        limit = self.config.library.max_render_size
        size = target.stat().st_size
        if size > limit:
            raise render.RenderRefused(
                f"{target.name} is {human_size(size)}; the library renders files up to {human_size(limit)}: "
                "download it instead."
            )
        return self.settings["cache"].rendered(
            owner,
            slug,
            number,
            path,
            lambda: render.render_file(target.name, target.read_bytes(), image_url=raw_url, max_bytes=limit),
            variant=raw_url,
        )

    def raw(self, target: Path) -> None:
        """The bytes, as a download: only images of known kinds are shown in the browser, and never run."""
        content_type = IMAGE_TYPES.get(target.suffix.lower())
        if content_type is None:
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(target.name)}")
        else:
            self.set_header("Content-Type", content_type)
            # A rendered page is sandboxed, so its origin is opaque: to it every image of the library is
            # cross-origin, and `same-origin` would keep the notebook's own figures off its page.
            self.clear_header("Cross-Origin-Resource-Policy")
        self.set_header("Content-Security-Policy", RAW_POLICY)
        with target.open("rb") as source:
            while chunk := source.read(1 << 20):
                self.write(chunk)
        self.finish()


class CopyHandler(LibraryHandler):
    """Copy a version into the signed-in person's workspace, then open its main file in their JupyterLab."""

    @web.authenticated
    async def post(self, owner: str, slug: str, number: str) -> None:
        viewer = self.viewer()
        project = self.store.project(owner, slug, viewer)
        versions = {v.number: v for v in self.store.versions(owner, slug)} if project else {}
        version = versions.get(int(number))
        if viewer is None or project is None or version is None:
            return self.not_found(f"The project {owner}/{slug}", viewer)
        workspace = self.settings["workspace_account"](viewer)
        if workspace is None:
            return self.page(
                "message.html",
                409,
                title="Copy",
                heading="This campus cannot copy into workspaces yet",
                message="Your notebooks run where the library cannot reach your files. Download the files from "
                "the project page and upload them in JupyterLab instead.",
                sign_in=False,
                viewer=viewer,
            )
        files = [f.path for f in self.store.list_files(owner, slug, version.number)]
        folder = f"{owner}-{slug}"
        try:
            archive = copy.pack(self.store.version_dir(owner, slug, version.number), files)
            made = await IOLoop.current().run_in_executor(None, copy.copy_into_workspace, workspace, folder, archive)
        except (UserError, OSError) as failed:
            log.warning("Copy of %s/%s v%s for %s failed: %s", owner, slug, number, viewer, failed)
            return self.page(
                "message.html",
                500,
                title="Copy",
                heading="The copy failed",
                message=str(failed),
                sign_in=False,
                viewer=viewer,
            )
        log.info("Copied %s/%s v%s into %s's workspace as %s", owner, slug, number, viewer, made)
        self.open_in_lab(f"{made}/{version.main}" if version.main else made)


class LaunchHandler(LibraryHandler):
    """A badge's or a link's target: sign in (through the hub, if need be), then one button copies and opens.

    The copy itself stays a POST with the page's XSRF token, so that a link on another site can start nothing
    in a reader's workspace without them pressing the button.
    """

    @web.authenticated
    def get(self, owner: str, slug: str) -> None:
        viewer = self.viewer()
        project = self.store.project(owner, slug, viewer)
        if project is None:
            return self.not_found(f"The project {owner}/{slug}", viewer)
        self.page("launch.html", title=project.title, project=project, viewer=viewer)


PUBLISH_FIELDS = ("folder", "title", "project", "description", "tags", "licence", "visibility", "course", "note")


class PublishHandler(LibraryHandler):
    """Publish a folder of one's own workspace: the form, then the folder read by one's own account."""

    def form(self, viewer: str, status: int = 200, problem: str = "", **values: str) -> None:
        courses = [cid for cid, course in self.config.courses.items() if viewer in course.members]
        self.page(
            "publish.html",
            status,
            title="Publish",
            problem=problem,
            courses=courses,
            values={
                **dict.fromkeys(PUBLISH_FIELDS, ""),
                "folder": self.get_argument("folder", ""),
                "visibility": PUBLIC,
                **values,
            },
            visibilities=VISIBILITIES,
            viewer=viewer,
        )

    @web.authenticated
    def get(self) -> None:
        self.form(self.viewer() or "")

    @web.authenticated
    async def post(self) -> None:
        viewer = self.viewer() or ""
        fields = {key: self.get_argument(key, "").strip() for key in PUBLISH_FIELDS}
        library = self.config.library
        workspace = self.settings["workspace_account"](viewer)
        if workspace is None:
            return self.form(
                viewer,
                409,
                "This campus cannot read workspaces from here: ask an admin to publish "
                "with `campushub library publish`.",
                **fields,
            )
        if (fields["course"] and fields["course"] not in self.config.courses) or (
            fields["course"] and viewer not in self.config.courses[fields["course"]].members
        ):
            return self.form(viewer, 400, f"You are not a member of the course {fields['course']!r}.", **fields)
        incoming = Path(self.store.root) / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = Path(tempfile.mkdtemp(dir=incoming))
        try:
            archive = await IOLoop.current().run_in_executor(
                None, copy.read_from_workspace, workspace, fields["folder"].strip("/"), library.max_project_size
            )
            copy.extract_plain_files(archive, staging)
            project, version = self.store.publish(
                viewer,
                fields["project"] or slug_for(fields["title"]),
                staging,
                Metadata(
                    title=fields["title"],
                    description=fields["description"],
                    tags=(fields["tags"],),
                    licence=fields["licence"],
                    visibility=fields["visibility"],
                    course=fields["course"] or None,
                    note=fields["note"],
                ),
                max_project_size=library.max_project_size,
                max_user_size=library.max_user_size,
            )
        except UserError as refused:
            return self.form(viewer, 400, str(refused), **fields)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # the library's own staging copy, never the workspace
        log.info("%s published %s/%s version %s", viewer, project.owner, project.slug, version.number)
        self.redirect(f"{self.prefix}p/{project.owner}/{project.slug}/")


class GitLaunchHandler(LibraryHandler):
    """`launch?repo=URL&ref=BRANCH&path=FILE`: any allowed git repository, cloned into one's workspace to stay.

    GET checks the link and asks; the clone waits for the button (a POST with the page's XSRF token), so a
    link on another site cannot clone anything into someone's workspace by itself.
    """

    def launch(self) -> tuple[git_launch.Repository, str, str] | None:
        library = self.config.library
        try:
            repository = git_launch.check_repository(
                self.get_argument("repo", ""), list(library.launch_schemes), list(library.launch_hosts)
            )
            ref = git_launch.check_ref(self.get_argument("ref")) if self.get_argument("ref", "") else ""
            path = self.get_argument("path", "").strip("/")
            if path:
                check_relative_path(path)
        except (git_launch.RefusedRepository, LibraryRefused) as refused:
            self.page(
                "message.html",
                400,
                title="Launch",
                heading="This launch link cannot be used",
                message=f"{refused}. Ask whoever shared the link, or the campus admins to allow the host.",
                sign_in=False,
                viewer=self.viewer(),
            )
            return None
        return repository, ref, path

    @web.authenticated
    def get(self) -> None:
        checked = self.launch()
        if checked is not None:
            repository, ref, path = checked
            self.page(
                "launch_git.html",
                title="Launch",
                repository=repository.url,
                ref=ref,
                path=path,
                folder=git_launch.folder_for(repository),
                viewer=self.viewer(),
            )

    @web.authenticated
    async def post(self) -> None:
        checked = self.launch()
        if checked is None:
            return
        repository, ref, path = checked
        viewer = self.viewer()
        workspace = self.settings["workspace_account"](viewer) if viewer else None
        if workspace is None:
            return self.page(
                "message.html",
                409,
                title="Launch",
                heading="This campus cannot clone into workspaces yet",
                message="Your notebooks run where the library cannot reach your files: clone the repository "
                "from a terminal in JupyterLab instead.",
                sign_in=False,
                viewer=viewer,
            )
        try:
            folder, made = await IOLoop.current().run_in_executor(
                None,
                git_launch.clone_into_workspace,
                workspace,
                repository,
                ref,
                list(self.config.library.launch_schemes),
            )
        except UserError as failed:
            return self.page(
                "message.html",
                502,
                title="Launch",
                heading="The repository could not be cloned",
                message=str(failed),
                sign_in=False,
                viewer=viewer,
            )
        log.info("Launch of %s for %s: %s %s", repository.url, viewer, folder, "cloned" if made else "already there")
        target = f"{folder}/{path}" if path else folder
        builds: LaunchBuilds | None = self.settings["builds"]
        if builds is None:
            return self.open_in_lab(target)
        title = repository.path.strip("/").removesuffix(".git")
        origin = f"{repository.url}" + (f" at {ref}" if ref else "")
        try:
            key, state = await IOLoop.current().run_in_executor(
                None, builds.prepare, workspace, folder, made, title, origin
            )
        except (SpecRefused, UserError) as refused:
            return self.page(
                "message.html",
                400,
                title="Launch",
                heading="The repository's packages cannot be built",
                message=f"{refused}. Your copy is in your workspace as ~/{folder}/ and opens with the standard "
                "Python kernel.",
                sign_in=False,
                viewer=viewer,
            )
        if key is None or state == "ready":
            return self.open_in_lab(target)
        self.redirect(f"{self.prefix}environments/{key}/?open={quote(target, safe='')}")


class EnvironmentHandler(LibraryHandler):
    """`environments/<key>/?open=PATH`: a launch's build while it runs (the page refreshes), its log if it failed,
    and JupyterLab on PATH once the environment is ready."""

    @web.authenticated
    def get(self, key: str) -> None:
        builds: LaunchBuilds | None = self.settings["builds"]
        target = self.get_argument("open", "").strip("/")
        try:
            if target:
                check_relative_path(target)
        except LibraryRefused:
            raise web.HTTPError(400, "the path to open is not a path under your home") from None
        if builds is None:
            raise web.HTTPError(404, "environments are not built on this campus")
        state = builds.state(key)
        if state == "ready":
            return self.open_in_lab(target)
        self.page(
            "environment.html",
            title="Environment",
            state=state,
            log=builds.builder.log(key) if state != "absent" else "",
            open_url=self.lab_url(target),
            viewer=self.viewer(),
        )


BADGE = """<svg xmlns="http://www.w3.org/2000/svg" width="170" height="20" role="img" aria-label="launch: {name}">
<rect width="56" height="20" fill="#555"/><rect x="56" width="114" height="20" fill="#f37726"/>
<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">
<text x="28" y="14">launch</text><text x="113" y="14">{name}</text></g></svg>"""


class BadgeHandler(LibraryHandler):
    """The launch badge: fixed text, nothing of the publisher's in it."""

    def get(self) -> None:
        name = xml_escape(self.config.name[:18])
        self.set_header("Content-Type", "image/svg+xml")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        self.set_header("Cache-Control", "public, max-age=86400")
        self.finish(BADGE.format(name=name))


class SignInHandler(LibraryHandler):
    """Sign in through the hub, then back to a page of the library (never anywhere else)."""

    @web.authenticated
    def get(self) -> None:
        wanted = self.get_argument("next", "")
        self.redirect(
            wanted if wanted.startswith(self.prefix) and "//" not in wanted and "\\" not in wanted else self.prefix
        )


def application(
    config: CampusConfig,
    store: LibraryStore,
    prefix: str,
    hub_prefix: str,
    cache: RenderCache,
    workspace_account: Callable[[str], WorkspaceAccount | None] = lambda name: None,
    builds: LaunchBuilds | None = None,
) -> web.Application:
    public = config.library.public_url
    hub_origin = config.listen.public_url.rstrip("/") if config.listen.public_url else ""
    owner, slug = r"([a-z][a-z0-9_.-]{0,23})", r"([a-z0-9][a-z0-9-]{0,62})"
    routes = [
        (rf"{prefix}", GalleryHandler),
        (rf"{prefix}u/{owner}/", ProfileHandler),
        (rf"{prefix}course/([a-z0-9][a-z0-9_-]{{0,31}})/", CourseShelfHandler),
        (rf"{prefix}p/{owner}/{slug}/", ProjectHandler),
        (rf"{prefix}p/{owner}/{slug}/v/(\d+)/", ProjectHandler),
        (rf"{prefix}p/{owner}/{slug}/v/(\d+)/(f|raw)/(.+)", FileHandler),
        (rf"{prefix}p/{owner}/{slug}/v/(\d+)/copy", CopyHandler),
        (rf"{prefix}p/{owner}/{slug}/launch", LaunchHandler),
        (rf"{prefix}badge.svg", BadgeHandler),
        (rf"{prefix}launch", GitLaunchHandler),
        (rf"{prefix}environments/([0-9a-f]{{20}})/", EnvironmentHandler),
        (rf"{prefix}publish", PublishHandler),
        (rf"{prefix}signin", SignInHandler),
        (rf"{prefix}oauth_callback", HubOAuthCallbackHandler),
        (rf"{prefix}static/(.*)", web.StaticFileHandler, {"path": str(HERE / "static")}),
    ]
    return web.Application(
        routes,
        store=store,
        cache=cache,
        campus=config,
        prefix=prefix,
        hub_prefix=hub_prefix,
        hub_origin=hub_origin,
        public_host=urlparse(public).netloc if public else None,
        templates=templates(),
        workspace_account=workspace_account,
        builds=builds,
        cookie_secret=os.urandom(32),
        xsrf_cookies=True,
    )


def launch_builds(config: CampusConfig, layout: Layout) -> LaunchBuilds | None:
    """Launches build environments where servers can use them: processes on this machine, which see the
    environments' folder (a container or a cluster node would not)."""
    if not config.environments.enabled or config.compute.backend != "local":
        return None
    return LaunchBuilds(EnvironmentBuilder(settings_for(config, layout)))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s campushub-library] %(message)s")
    try:
        config = read_snapshot(snapshot_path())
        layout = layout_for(config)
        store = LibraryStore(database_url(config, layout), layout.library_dir)
    except UserError as exc:
        log.error("%s", exc)
        sys.exit(1)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/library/")
    hub_prefix = os.environ.get("JUPYTERHUB_BASE_URL", "/") + "hub/"
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:0"))
    cache = RenderCache(layout.library_cache_dir)
    backend = backend_for(config)
    app = application(
        config,
        store,
        prefix,
        hub_prefix,
        cache,
        lambda name: backend.workspace_account(config, layout, name),
        launch_builds(config, layout),
    )
    server = HTTPServer(app, xheaders=True)
    server.listen(url.port or 0, url.hostname or "127.0.0.1")
    log.info("Serving the library at %s on %s", prefix, url.netloc)
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))  # the hub stopping (Ctrl-C reaches the whole group)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    IOLoop.current().start()


if __name__ == "__main__":
    main()
