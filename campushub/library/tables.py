"""The library's rows in the hub database: projects, and the immutable versions published of each.

Files live on disk (campushub/library/store.py says where); the tables say what exists, who owns it,
who may see it, and what each version holds, so that the gallery and search never walk the disk.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campushub.tables import Base

PUBLIC = "public"
UNLISTED = "unlisted"
PRIVATE = "private"
VISIBILITIES = (PUBLIC, UNLISTED, PRIVATE)


class Project(Base):
    """One published project: an owner's folder, under a name unique to that owner."""

    __tablename__ = "campushub_library_projects"
    __table_args__ = (UniqueConstraint("owner", "slug", name="campushub_library_projects_owner_slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    slug: Mapped[str] = mapped_column(String(64), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Lower-case words joined by single spaces, so that a tag search is one LIKE on any database.
    tags: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    licence: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    visibility: Mapped[str] = mapped_column(String(16), nullable=False)
    course: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    created: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    updated: Mapped[datetime] = mapped_column(DateTime, nullable=False)


class Version(Base):
    """One publish of a project: its files never change once written."""

    __tablename__ = "campushub_library_versions"

    project_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("campushub_library_projects.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    files: Mapped[int] = mapped_column(Integer, nullable=False)
    # The notebook a visitor sees first and a copy opens: the publisher's choice, or the first notebook.
    main: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    # What changed since the version before, in the publisher's words and as a list of added/changed/removed files.
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    changes: Mapped[str] = mapped_column(Text, nullable=False, default="")
