"""LTI 1.3: the LMS courses tied to CampusHub courses, and the course roles launches recorded."""

import sqlalchemy as sa
from alembic import op

revision = "0003_lti"
down_revision = "0002_library"
branch_labels = None
depends_on = None
# The CampusHub release whose tables this revision gives.
campushub_version = "0.2.0"


def upgrade() -> None:
    op.create_table(
        "campushub_lti_contexts",
        sa.Column("issuer", sa.String(255), primary_key=True),
        sa.Column("deployment_id", sa.String(255), primary_key=True),
        sa.Column("context_id", sa.String(255), primary_key=True),
        sa.Column("course", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_campushub_lti_contexts_course", "campushub_lti_contexts", ["course"])
    op.create_table(
        "campushub_lti_memberships",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("course", sa.String(32), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("campushub_lti_memberships")
    op.drop_index("ix_campushub_lti_contexts_course", "campushub_lti_contexts")
    op.drop_table("campushub_lti_contexts")
