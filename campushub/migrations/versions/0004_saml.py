"""SAML: sign-ins in progress, and the IdP sessions that single logout ends, kept across hub restarts."""

import sqlalchemy as sa
from alembic import op

revision = "0004_saml"
down_revision = "0003_lti"
branch_labels = None
depends_on = None
# The CampusHub release whose tables this revision gives.
campushub_version = "0.2.0"


def upgrade() -> None:
    op.create_table(
        "campushub_saml_requests",
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("next_url", sa.Text(), nullable=False),
        sa.Column("idp", sa.String(1024), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_campushub_saml_requests_method", "campushub_saml_requests", ["method"])
    op.create_index("ix_campushub_saml_requests_expires", "campushub_saml_requests", ["expires"])
    op.create_table(
        "campushub_saml_sessions",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("method", sa.String(64), primary_key=True),
        sa.Column("name_id", sa.Text(), nullable=False),
        sa.Column("idp", sa.String(1024), nullable=False),
        sa.Column("session_index", sa.String(1024), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("campushub_saml_sessions")
    op.drop_index("ix_campushub_saml_requests_expires", "campushub_saml_requests")
    op.drop_index("ix_campushub_saml_requests_method", "campushub_saml_requests")
    op.drop_table("campushub_saml_requests")
