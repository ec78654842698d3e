"""client_roles and clients.dpop_bound

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 21:00:00.000000

A client can hold roles from the policy, like a user (``clients create --role``,
``clients set-roles``, SPEC §16): its client_credentials tokens are granted from them. The
roles live in ``client_roles``, the same shape as ``user_roles``. A client made with
``--dpop`` must prove a DPoP key at the token endpoint (``dpop_bound_access_tokens``,
SPEC §17).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('client_roles',
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('client_id', 'role')
    )
    with op.batch_alter_table('client_roles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_roles_role'), ['role'], unique=False)

    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_bound', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('dpop_bound')

    with op.batch_alter_table('client_roles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_roles_role'))

    op.drop_table('client_roles')
