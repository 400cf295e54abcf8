"""Settings of every user's Jupyter server (found through $JUPYTER_CONFIG_PATH).

JupyterLab must not call out to the internet from a campus server: no news
feed, no update check, no PyPI extension manager. The settings overrides in
lab-settings/ also keep Lab from asking each student about news.
"""

import os

c = get_config()  # noqa: F821 (injected by traitlets)
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
c.LabApp.app_settings_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lab-settings")

# Kernel messages leave at once. Tornado turns TCP_NODELAY off once a response is written, so on the
# upgraded kernel websocket Nagle's algorithm held each reply's later frames (status, result, idle)
# until the earlier ones were acknowledged: ~40 ms per cell on a delayed-ACK peer.
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection  # noqa: E402


class NoDelayKernelConnection(ZMQChannelsWebsocketConnection):
    def connect(self):
        self.websocket_handler.set_nodelay(True)
        return super().connect()


c.ServerApp.kernel_websocket_connection_class = NoDelayKernelConnection
