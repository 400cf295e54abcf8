"""Which CampusHub groups a person is in after signing in: their directory's or provider's, plus their courses'.

JupyterHub either leaves groups alone or, with `manage_groups`, replaces them at every sign-in with
what the Authenticator returns, and then refuses `load_groups`. Course groups must survive that
replacement, so CampusHub computes the whole list itself: the groups the method synced (or, for a
method that syncs none, the ones the person already has), plus a `course:<id>` group for each
course whose members list names them or whose groups they are in. Groups a directory or provider
sends under the `course:` prefix are dropped: only campus.yaml, and launches from an LMS that CampusHub
verified (campushub.identity.lti_store), make someone a course member. A launch also says the person's role:
`course:<id>:student`, `course:<id>:ta` or `course:<id>:instructor`, beside `course:<id>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

COURSE_GROUP_PREFIX = "course:"


def course_group(course_id: str) -> str:
    return COURSE_GROUP_PREFIX + course_id


def course_role_group(course_id: str, role: str) -> str:
    return f"{COURSE_GROUP_PREFIX}{course_id}:{role}"


def launched_groups(roles: Mapping[str, str]) -> set[str]:
    """The groups of the courses an LMS put someone in, {course: role}: each course's and its role's."""
    pairs = ((course_group(course), course_role_group(course, role)) for course, role in roles.items())
    return {group for pair in pairs for group in pair}


def is_course_group(group: str) -> bool:
    return group.startswith(COURSE_GROUP_PREFIX)


def course_roster_entries(courses: Mapping[str, object]) -> dict[str, dict[str, list[str]]]:
    """campus.yaml's courses as CampusAuthenticator's `courses` trait: {id: {members, groups}}."""
    return {
        course_id: {"members": list(course.members), "groups": list(course.groups)}  # type: ignore[attr-defined]
        for course_id, course in courses.items()
    }


def courses_of(name: str, groups: Iterable[str], courses: Mapping[str, Mapping[str, list[str]]]) -> set[str]:
    """The course groups of `name`, a member by the course's list or through one of `groups`."""
    own = set(groups)
    return {
        course_group(course_id)
        for course_id, course in courses.items()
        if name in course.get("members", ()) or own & set(course.get("groups", ()))
    }


def groups_after_sign_in(
    name: str,
    synced: Iterable[str] | None,
    current: Iterable[str],
    courses: Mapping[str, Mapping[str, list[str]]],
    launched: Mapping[str, str] | None = None,
) -> list[str]:
    """The full list JupyterHub sets: synced groups (or the current ones when the method syncs none) plus courses,
    campus.yaml's and those LMS launches recorded ({course: role})."""
    base = current if synced is None else synced
    own = {group for group in base if not is_course_group(group)}
    return sorted(own | courses_of(name, own, courses) | launched_groups(launched or {}))
