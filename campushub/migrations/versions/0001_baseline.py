"""Baseline: CampusHub 0.1.0's tables, as they were before CampusHub versioned them.

A database made by 0.1.0 already holds exactly these tables; it is recorded at this revision
(stamped) rather than upgraded through it. A fresh database gets them from here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None
# The CampusHub release whose tables this revision gives.
campushub_version = "0.1.0"


def upgrade() -> None:
    op.create_table(
        "campushub_accounts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "campushub_invites",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("uses_left", sa.Integer(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "campushub_method_claims",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("method", sa.String(32), nullable=False),
    )
    op.create_table(
        "campushub_email_links",
        sa.Column("email", sa.String(254), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
    )
    op.create_table(
        "campushub_external_ids",
        sa.Column("method", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
    )
    op.create_table(
        "campushub_removed_names",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("removed", sa.DateTime(), nullable=False),
        sa.Column("archive", sa.String(1024), nullable=False),
    )
    op.create_table(
        "campushub_config_admins",
        sa.Column("name", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    for table in (
        "campushub_config_admins",
        "campushub_removed_names",
        "campushub_external_ids",
        "campushub_email_links",
        "campushub_method_claims",
        "campushub_invites",
        "campushub_accounts",
    ):
        op.drop_table(table)
