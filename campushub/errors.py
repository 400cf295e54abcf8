"""Errors that are the user's to fix.

A `UserError` is printed as one paragraph and ends the command with exit
status 2: a campus admin who mistyped a key needs the file, the line and the
fix, not a traceback.
"""


class UserError(Exception):
    """Something the person running CampusHub can fix; its message says how."""

    exit_status = 2
