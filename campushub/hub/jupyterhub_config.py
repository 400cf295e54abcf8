"""The jupyterhub config file `campushub up` hands to JupyterHub.

It holds no settings of its own: it reads campus.yaml (path in
$CAMPUSHUB_CONFIG) and applies the mapped settings.
"""

import os

from campushub.hub.apply import apply_settings

apply_settings(get_config(), os.environ["CAMPUSHUB_CONFIG"])  # noqa: F821 (injected by traitlets)
