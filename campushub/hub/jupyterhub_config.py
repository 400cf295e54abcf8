"""The jupyterhub config file `campushub up` hands to JupyterHub.

It holds no settings of its own: it applies those mapped from the effective configuration `up`
wrote (its path in $CAMPUSHUB_SNAPSHOT), then the admin's files in data_dir/jupyterhub_config.d.
"""

from campushub.config.snapshot import snapshot_path
from campushub.hub.apply import apply_snapshot
from campushub.hub.config_d import load_config_d

c = get_config()  # noqa: F821 (injected by traitlets)
layout = apply_snapshot(c, snapshot_path())
load_config_d(c, layout.config_d)
