"""dpop_proofs and refresh_families.dpop_jkt

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 21:00:00.000000

DPoP (RFC 9449, SPEC §17): the proofs already seen, shared by every instance when no Redis
is configured, so a proof replayed at another instance is refused; and the key a public
client's refresh family is bound to (its RFC 7638 thumbprint), which every refresh of the
family must prove.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dpop_proofs',
    sa.Column('proof_digest', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('proof_digest')
    )
    with op.batch_alter_table('dpop_proofs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dpop_proofs_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('refresh_families', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('refresh_families', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')

    with op.batch_alter_table('dpop_proofs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dpop_proofs_expires_at'))

    op.drop_table('dpop_proofs')
