"""The public library: projects and their immutable versions."""

import sqlalchemy as sa
from alembic import op

revision = "0002_library"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None
# The CampusHub release whose tables this revision gives.
campushub_version = "0.2.0"


def upgrade() -> None:
    op.create_table(
        "campushub_library_projects",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.String(500), nullable=False),
        sa.Column("licence", sa.String(64), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("course", sa.String(32), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("owner", "slug", name="campushub_library_projects_owner_slug"),
    )
    op.create_index("ix_campushub_library_projects_owner", "campushub_library_projects", ["owner"])
    op.create_index("ix_campushub_library_projects_course", "campushub_library_projects", ["course"])
    op.create_table(
        "campushub_library_versions",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("campushub_library_projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("main", sa.String(1024), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("campushub_library_versions")
    op.drop_index("ix_campushub_library_projects_course", "campushub_library_projects")
    op.drop_index("ix_campushub_library_projects_owner", "campushub_library_projects")
    op.drop_table("campushub_library_projects")
