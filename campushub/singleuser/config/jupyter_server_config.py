"""Settings of every user's Jupyter server (found through $JUPYTER_CONFIG_PATH).

JupyterLab must not call out to the internet from a campus server: no news
feed, no update check, no PyPI extension manager. The settings overrides in
lab-settings/ also keep Lab from asking each student about news.
"""

import os
import sys

c = get_config()  # noqa: F821 (injected by traitlets)
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
c.LabApp.app_settings_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab-settings")

# Kernel messages leave at once. Tornado turns TCP_NODELAY off once a response is written, so on the
# upgraded kernel websocket Nagle's algorithm held each reply's later frames (status, result, idle)
# until the earlier ones were acknowledged: ~40 ms per cell on a delayed-ACK peer.
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection  # noqa: E402

# A kernel stopped for reaching the memory limit says so under the cell that was running (memory_notice.py);
# Python kernels are forked from the server's kernel template when it has one (kernel_fork.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernel_fork import PROVISIONER_NAME, register  # noqa: E402
from memory_notice import MemoryLimitNotice  # noqa: E402

sys.path.pop(0)
if register():
    c.KernelProvisionerFactory.default_provisioner_name = PROVISIONER_NAME


class NoDelayKernelConnection(MemoryLimitNotice, ZMQChannelsWebsocketConnection):
    def connect(self):
        self.websocket_handler.set_nodelay(True)
        return super().connect()


c.ServerApp.kernel_websocket_connection_class = NoDelayKernelConnection


# Language servers (jupyter_lsp) are still found on every start, without the two programs its search
# runs each time: `npm prefix -g` (a Node.js start) and `Rscript -e ...` (an R start) cost about 0.3
# CPU-seconds per server, more than the rest of a forked server's start-up. The answers come from
# where npm and R keep what they install instead.
def _node_roots() -> list[str]:
    """jupyter_lsp's own default roots for node_modules, with npm's global prefix found as npm finds it.

    npm's global prefix is $NPM_CONFIG_PREFIX, else a `prefix=` line of the user's npmrc or of the global
    one (<node's prefix>/etc/npmrc), else node's prefix: the directory above the one holding node.
    """
    import shutil
    import sys
    from pathlib import Path

    roots = [Path.cwd()]
    try:
        from jupyterlab.commands import get_app_dir

        roots.append(Path(get_app_dir()) / "staging")
    except ImportError:
        pass
    roots += [Path(sys.prefix) / "lib", Path(sys.prefix)]
    prefix = os.environ.get("NPM_CONFIG_PREFIX")
    node = shutil.which("node") or shutil.which("nodejs")
    npmrcs = [Path.home() / ".npmrc"]
    if node:
        npmrcs.append(Path(node).resolve().parents[1] / "etc" / "npmrc")  # npm's globalconfig
    for npmrc in npmrcs if not prefix else []:
        try:
            lines = npmrc.read_text().splitlines()
        except OSError:
            continue
        found = [line.split("=", 1)[1].strip() for line in lines if line.replace(" ", "").startswith("prefix=")]
        if found:
            prefix = os.path.expanduser(found[-1])
            break
    if not prefix and node:
        prefix = str(Path(node).resolve().parents[1])
    if prefix and shutil.which("npm"):
        roots += [Path(prefix) / "lib", Path(prefix)]
    return [str(root) for root in roots]


def _r_package_installed(package: str) -> bool:
    """Whether R would find `package`, looked up in R's library directories instead of asking R.

    The directories are those of .libPaths() in a default R: $R_LIBS, the user's library
    ($R_LIBS_USER, by default ~/R/<platform>-library/<version>), the site libraries ($R_LIBS_SITE,
    by default /usr/local/lib/R/site-library and /usr/lib/R/site-library) and R's own library.
    """
    from glob import glob
    from pathlib import Path

    listed = ":".join(os.environ.get(name, "") for name in ("R_LIBS", "R_LIBS_USER", "R_LIBS_SITE")).split(":")
    libraries = [Path(os.path.expanduser(entry)) for entry in listed if entry]
    libraries += [Path(path) for path in glob(os.path.expanduser("~/R/*-library/*"))]
    for base in ("/usr/local/lib/R", "/usr/lib/R", "/usr/local/lib64/R", "/usr/lib64/R", "/opt/R"):
        libraries += [Path(base) / "site-library", Path(base) / "library"]
    return any((library / package / "Meta" / "package.rds").is_file() for library in libraries)  # as find.package


c.LanguageServerManager.node_roots = _node_roots()
try:
    from jupyter_lsp.specs.r_languageserver import RLanguageServer
except ImportError:  # jupyter_lsp not installed: nothing searches for language servers
    pass
else:
    RLanguageServer.is_installed = lambda self, manager: bool(self.solve()) and _r_package_installed(self.package)
