"""`campushub backup` and `campushub restore`: a campus in one directory, and back onto a machine.

A backup directory holds the hub database (copied online, so the hub may keep running), the data
directory's secrets, campus.yaml, the admin's `jupyterhub_config.d` files and, on request, one
archive per user's home, all listed in a manifest with their sizes and SHA-256. Restoring checks the
whole backup against its manifest before it touches anything, and never deletes or overwrites a
user's files.

- `manifest.py`: what a backup holds and the check of a backup against its manifest (reads only).
- `files.py`: private files (0600) and their hashes.
- `database.py`: the hub database out (SQLite backup API, pg_dump) and back (copy, pg_restore).
- `homes.py`: one tar.gz per home, and extraction that cannot write outside the home.
- `commands.py`: the two commands, put together from the above.
"""
