"""CampusConfig -> a running JupyterHub: settings, templates, the proxy."""
