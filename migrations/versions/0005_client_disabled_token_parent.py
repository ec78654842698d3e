"""clients.disabled and refresh_tokens.parent_id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:00:00.000000

A disabled client cannot authenticate (``clients disable``, SPEC §4). A refresh token
names the token whose use produced it, so a repeat of a refresh whose answer was lost can
be told from reuse (AUTHSERVER_REFRESH_REUSE_GRACE, SPEC §6).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_column('parent_id')

    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('disabled')
