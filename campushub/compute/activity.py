"""How often users' servers report activity, which the hub and every compute backend agree on.

The hub records activity and the idle culler looks for it at this pace; a backend hands the same
value to the servers it starts. Kept apart from both so neither imports the other.
"""

from __future__ import annotations


def activity_interval(idle_timeout: int) -> int:
    """How often servers report activity: a quarter of the timeout, so an active user is never culled."""
    return max(5, min(300, idle_timeout // 4))
