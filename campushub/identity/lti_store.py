"""Courses and course memberships that verified LTI launches established, kept in the hub database.

campus.yaml's `courses:` are the admin's; an LMS adds its own as people launch from it: each LMS course (a
platform's issuer, deployment and context id) is tied to one CampusHub course, and each launch records the
person's role in it. Every sign-in, by any method, adds these memberships to the person's groups
(campushub.identity.groups), so a later directory or SAML sign-in keeps what the LMS said.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from campushub.tables import Base, Store, utc_now


class LtiContext(Base):
    """One LMS course, as a platform names it, and the CampusHub course it is."""

    __tablename__ = "campushub_lti_contexts"

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    context_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    course: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(DateTime)


class LtiMembership(Base):
    """A person's role in a course, as the last launch from the LMS said."""

    __tablename__ = "campushub_lti_memberships"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    course: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    updated: Mapped[datetime] = mapped_column(DateTime)


class LtiStore(Store):
    def course_for(self, issuer: str, deployment_id: str, context_id: str) -> str | None:
        with self._session() as session:
            found = session.get(LtiContext, (issuer, deployment_id, context_id))
            return found.course if found else None

    def course_ids(self) -> set[str]:
        with self._session() as session:
            return set(session.scalars(select(LtiContext.course)))

    def tie(self, issuer: str, deployment_id: str, context_id: str, course: str, title: str) -> str:
        """Tie the LMS course to `course` unless a launch at the same moment tied it first; the course it is tied to."""
        try:
            with self._session() as session:
                session.add(LtiContext(issuer=issuer, deployment_id=deployment_id, context_id=context_id,
                                       course=course, title=title[:200], created=utc_now()))  # fmt: skip
        except IntegrityError:
            pass
        tied = self.course_for(issuer, deployment_id, context_id)
        assert tied is not None
        return tied

    def record(self, name: str, course: str, role: str) -> None:
        with self._session() as session:
            found = session.get(LtiMembership, (name, course))
            if found is None:
                session.add(LtiMembership(name=name, course=course, role=role, updated=utc_now()))
            else:
                found.role, found.updated = role, utc_now()

    def roles_of(self, name: str) -> dict[str, str]:
        """{course: role} of every course the LMS put `name` in."""
        with self._session() as session:
            rows = session.execute(select(LtiMembership.course, LtiMembership.role).where(LtiMembership.name == name))
            return {course: role for course, role in rows}

    def forget(self, name: str) -> None:
        """A removed person's course roles: never handed to a later holder of the name."""
        with self._session() as session:
            session.execute(delete(LtiMembership).where(LtiMembership.name == name))
