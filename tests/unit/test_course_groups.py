"""Course groups beside synced groups: what JupyterHub is told to set at each sign-in."""

from __future__ import annotations

from campushub.identity.groups import course_group, courses_of, groups_after_sign_in

COURSES = {
    "phys101": {"members": ["alice"], "groups": []},
    "chem201": {"members": [], "groups": ["chemists"]},
}


def test_listed_members_and_group_members_get_the_course_group() -> None:
    assert courses_of("alice", [], COURSES) == {"course:phys101"}
    assert courses_of("bob", ["chemists"], COURSES) == {"course:chem201"}
    assert courses_of("carol", ["physics"], COURSES) == set()


def test_synced_groups_and_course_groups_together() -> None:
    groups = groups_after_sign_in("alice", ["students", "chemists"], ["old-directory-group"], COURSES)
    assert groups == ["chemists", "course:chem201", "course:phys101", "students"]


def test_a_method_that_syncs_nothing_keeps_current_groups_and_refreshes_courses() -> None:
    current = ["lab-a", course_group("dropped-course")]
    assert groups_after_sign_in("alice", None, current, COURSES) == ["course:phys101", "lab-a"]


def test_a_directory_cannot_grant_course_membership() -> None:
    """Only campus.yaml makes someone a course member: a provider's `course:x` group is dropped."""
    assert groups_after_sign_in("mallory", ["course:phys101", "students"], [], COURSES) == ["students"]
