"""Short, stable links on the hub for badges and READMEs: /hub/library/... and /hub/launch?repo=...

The library's pages live in its own service (/services/library/); these handlers, which CampusAuthenticator
adds to the hub's (JupyterHub's own `extra_handlers` is deprecated), only redirect there. Every target is the
service's prefix plus path steps the route patterns have already limited to owner and project names, and a
launch's query is rebuilt from its three known arguments: nothing of the request can send a visitor anywhere
else.

    /hub/library/                               -> the gallery
    /hub/library/<owner>/                       -> the owner's profile
    /hub/library/<owner>/<project>/             -> the project
    /hub/library/<owner>/<project>/launch       -> copy it into one's workspace and open it
    /hub/launch?repo=URL&ref=REF&path=FILE      -> clone a git repository into one's workspace (Binder-style)
"""

from __future__ import annotations

from urllib.parse import urlencode

from tornado import web

from campushub.services.builtin import LIBRARY_SERVICE

OWNER, PROJECT = r"[a-z][a-z0-9_.-]{0,23}", r"[a-z0-9][a-z0-9-]{0,62}"
LAUNCH_ARGUMENTS = ("repo", "ref", "path")


class LibraryLinkHandler(web.RequestHandler):
    def service_prefix(self) -> str:
        return f"{self.settings.get('base_url', '/')}services/{LIBRARY_SERVICE}/"

    def get(self, owner: str | None = None, project: str | None = None, launch: str | None = None) -> None:
        if owner is None:
            target = ""
        elif project is None:
            target = f"u/{owner}/"
        else:
            target = f"p/{owner}/{project}/" + ("launch" if launch else "")
        self.redirect(self.service_prefix() + target)


class GitLaunchLinkHandler(LibraryLinkHandler):
    def get(self) -> None:  # type: ignore[override]
        query = {name: self.get_argument(name) for name in LAUNCH_ARGUMENTS if self.get_argument(name, "")}
        self.redirect(f"{self.service_prefix()}launch?{urlencode(query)}")


def link_handlers() -> list[tuple[str, type[web.RequestHandler]]]:
    """The hub handlers (mounted under /hub/, as an authenticator's are)."""
    return [
        (r"/library/?", LibraryLinkHandler),
        (rf"/library/({OWNER})/", LibraryLinkHandler),
        (rf"/library/({OWNER})/({PROJECT})/", LibraryLinkHandler),
        (rf"/library/({OWNER})/({PROJECT})/(launch)", LibraryLinkHandler),
        (r"/launch", GitLaunchLinkHandler),
    ]
