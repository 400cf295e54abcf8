"""CampusHub's own tables in the hub database, versioned with alembic.

JupyterHub versions its tables with alembic in the table `alembic_version`; CampusHub's tables
(`campushub_*`) live in the same database, so their revisions are kept apart, in
`campushub_alembic_version`, and neither side ever reads or moves the other's. `schema.py` says where
CampusHub's tables stand and moves them, `hub_schema.py` does the same for JupyterHub's, `env.py` is
what alembic runs, and `versions/` holds one file per change of CampusHub's tables. No alembic.ini is
needed: the alembic configuration is built in code (`schema.alembic_config`).
"""
