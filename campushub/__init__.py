"""CampusHub: a campus notebook platform built on JupyterHub."""

__version__ = "0.1.0"
