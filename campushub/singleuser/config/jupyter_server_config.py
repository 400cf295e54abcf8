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
