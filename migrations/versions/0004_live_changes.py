"""live changes: one change log for live authorization (SPEC §12)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 18:10:00.000000

The revocation list (revoked_tokens) is folded into the log as "jti" rows, so there is one
truth; the downgrade puts the unexpired "jti" rows back.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('live_changes',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('live_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_changes_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_changes_until'), ['until'], unique=False)

    op.execute(
        "INSERT INTO live_changes (kind, key, at, until) "
        "SELECT 'jti', jti, CURRENT_TIMESTAMP, expires_at FROM revoked_tokens ORDER BY expires_at"
    )
    with op.batch_alter_table('revoked_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revoked_tokens_expires_at'))
    op.drop_table('revoked_tokens')


def downgrade():
    op.create_table('revoked_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti')
    )
    with op.batch_alter_table('revoked_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revoked_tokens_expires_at'), ['expires_at'], unique=False)
    op.execute(
        "INSERT INTO revoked_tokens (jti, expires_at) "
        "SELECT key, MAX(until) FROM live_changes WHERE kind = 'jti' AND until IS NOT NULL "
        "GROUP BY key"
    )
    with op.batch_alter_table('live_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_changes_until'))
        batch_op.drop_index(batch_op.f('ix_live_changes_key'))
    op.drop_table('live_changes')
