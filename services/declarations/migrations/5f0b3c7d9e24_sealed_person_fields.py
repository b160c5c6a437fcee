"""declarations: 证件号码, 联系电话 and the addresses sealed in the event log and its
projections (issue 17 points 1-2, docs/protection.md "The event log")

- events: the person fields inside `data` (top level and nested, as a
  change's before/after) become tokens; `stream_id` "cert_type:cert_no"
  becomes "p:" + the blind index of the number. The append-only triggers are
  lifted for this migration only (SQLite: dropped and created again;
  PostgreSQL: disabled and enabled). Positions, event ids, types, times and
  metadata are unchanged.
- persons: `cert_no` -> `cert_no_bidx` (unique with cert_type) + `cert_no_enc`,
  `person` JSON with tokens, the new stream ids.
- records: `cert_no` -> `cert_no_bidx` (index unit_id, cert_no_bidx) + `cert_no_enc`.
- projection_keys: the index key the projections were built with.

Rows are converted in chunks of CHUNK. A database with rows needs the keys
(the master keys and the index key, as the service itself: environment,
secret file or the development key file); an empty one does not. Its data
key is made in the migration's own transaction. Afterwards run VACUUM
(SQLite; the engines of common.db zero freed pages, secure_delete) or
VACUUM FULL events, persons, records (PostgreSQL) so that no old text stays
in free space. The downgrade opens everything again (it needs the keys too).

Revision ID: 5f0b3c7d9e24
Revises: 6a1c4d8e0f35
Create Date: 2026-12-01 15:00:00
"""
import json

import sqlalchemy as sa
from alembic import op

from common.protect.sql import SqlDekStore

revision = '5f0b3c7d9e24'
down_revision = '6a1c4d8e0f35'
branch_labels = None
depends_on = None

CHUNK = 2000
PROTECTED = ("cert_no", "phone", "hukou_address", "address")
APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END",
]



class _Keys:
    def __init__(self, bind):
        from common.protect.blind import BlindIndex
        from common.protect.envelope import FieldProtector
        from common.protect.keys import load_keys

        ring = load_keys()
        self.fields = FieldProtector(ring, SqlDekStore(bind))
        self.index = BlindIndex.from_ring(ring)

    def seal(self, data):
        return {k: (self.fields.encrypt(k, v) if k in PROTECTED and isinstance(v, str)
                    else self.seal(v) if isinstance(v, dict) else v) for k, v in data.items()}

    def unseal(self, data):
        return {k: (self.fields.decrypt(k, v) if k in PROTECTED and isinstance(v, str)
                    else self.unseal(v) if isinstance(v, dict) else v) for k, v in data.items()}

    def stream_id(self, old):
        """"p:<bidx>" of an old "cert_type:cert_no" id (left alone if already new)."""
        if old.startswith("p:"):
            return old
        cert_type, cert_no = old.split(":", 1)
        return "p:" + self.index.cert_no(cert_type, cert_no)


def _json(value):
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _has_rows(bind, *tables):
    return any(bind.execute(sa.text(f"SELECT 1 FROM {t} LIMIT 1")).first() for t in tables)


def _lift_append_only(bind):
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")
    else:
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS events_no_update")
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS events_no_delete")


def _restore_append_only(bind):
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_append_only")
    else:
        for statement in APPEND_ONLY_SQLITE:
            bind.exec_driver_sql(statement)


def _json_param(bind, name):
    return f"CAST(:{name} AS json)" if bind.dialect.name == "postgresql" else f":{name}"


def _convert_events(bind, keys, forward):
    """Every event's data and stream id, CHUNK events at a time in position order."""
    update = sa.text(f"UPDATE events SET stream_id = :s, data = {_json_param(bind, 'd')} WHERE position = :p")
    after = 0
    while True:
        rows = bind.execute(sa.text("SELECT position, stream_id, data FROM events WHERE position > :a "
                                    "ORDER BY position LIMIT :n"), {"a": after, "n": CHUNK}).all()
        if not rows:
            return
        params = []
        for position, sid, data in rows:
            data = _json(data)
            if forward:
                params.append({"p": position, "s": keys.stream_id(sid), "d": _dumps(keys.seal(data))})
            else:
                opened = keys.unseal(data)
                old = f"{opened['cert_type']}:{opened['cert_no']}" if "cert_no" in opened else sid
                params.append({"p": position, "s": old, "d": _dumps(opened)})
        bind.execute(update, params)
        after = rows[-1][0]


def _seal_persons(bind, keys):
    update = sa.text("UPDATE persons SET stream_id = :new, cert_no_bidx = :b, cert_no_enc = :e, "
                     f"person = {_json_param(bind, 'j')} WHERE stream_id = :old")
    last = ""
    while True:
        rows = bind.execute(sa.text(
            "SELECT stream_id, cert_type, cert_no, person FROM persons WHERE stream_id > :last "
            "AND cert_no_bidx IS NULL ORDER BY stream_id LIMIT :n"), {"last": last, "n": CHUNK}).all()
        if not rows:
            return
        bind.execute(update, [{
            "old": sid, "new": keys.stream_id(sid), "b": keys.index.cert_no(cert_type, cert_no),
            "e": keys.fields.encrypt("cert_no", cert_no), "j": _dumps(keys.seal(_json(person))),
        } for sid, cert_type, cert_no, person in rows])
        last = rows[-1][0]


def _seal_records(bind, keys):
    update = sa.text("UPDATE records SET cert_no_bidx = :b, cert_no_enc = :e WHERE position = :p")
    after = 0
    while True:
        rows = bind.execute(sa.text("SELECT position, cert_type, cert_no FROM records WHERE position > :a "
                                    "ORDER BY position LIMIT :n"), {"a": after, "n": CHUNK}).all()
        if not rows:
            return
        bind.execute(update, [{"p": p, "b": keys.index.cert_no(t, n), "e": keys.fields.encrypt("cert_no", n)}
                              for p, t, n in rows])
        after = rows[-1][0]


def upgrade():
    bind = op.get_bind()
    op.create_table('projection_keys',
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    for table in ('persons', 'records'):
        op.add_column(table, sa.Column('cert_no_bidx', sa.String(length=32), nullable=True))
        op.add_column(table, sa.Column('cert_no_enc', sa.String(length=120), nullable=True))
    if _has_rows(bind, 'events', 'persons', 'records'):
        keys = _Keys(bind)
        _lift_append_only(bind)
        _convert_events(bind, keys, forward=True)
        _restore_append_only(bind)
        _seal_persons(bind, keys)
        _seal_records(bind, keys)
        bind.execute(sa.text("INSERT INTO projection_keys (name, key_id) VALUES ('blind_index', :k)"),
                     {"k": keys.index.key_id})
    with op.batch_alter_table('persons') as batch:
        batch.alter_column('cert_no_bidx', existing_type=sa.String(length=32), nullable=False)
        batch.alter_column('cert_no_enc', existing_type=sa.String(length=120), nullable=False)
        batch.drop_column('cert_no')
        batch.create_index('ux_persons_cert_no_bidx', ['cert_no_bidx', 'cert_type'], unique=True)
    with op.batch_alter_table('records') as batch:
        batch.drop_index('ix_records_unit_cert_no')
        batch.alter_column('cert_no_bidx', existing_type=sa.String(length=32), nullable=False)
        batch.alter_column('cert_no_enc', existing_type=sa.String(length=120), nullable=False)
        batch.drop_column('cert_no')
        batch.create_index('ix_records_unit_cert_no_bidx', ['unit_id', 'cert_no_bidx'], unique=False)


def downgrade():
    bind = op.get_bind()
    for table in ('persons', 'records'):
        op.add_column(table, sa.Column('cert_no', sa.String(length=30), nullable=True))
    if _has_rows(bind, 'events', 'persons', 'records'):
        keys = _Keys(bind)
        _lift_append_only(bind)
        _convert_events(bind, keys, forward=False)
        _restore_append_only(bind)
        rows = bind.execute(sa.text("SELECT stream_id, cert_type, cert_no_enc, person FROM persons")).all()
        if rows:
            bind.execute(sa.text("UPDATE persons SET stream_id = :new, cert_no = :n, "
                                 f"person = {_json_param(bind, 'j')} WHERE stream_id = :old"), [{
                "old": sid, "new": f"{t}:{keys.fields.decrypt('cert_no', enc)}",
                "n": keys.fields.decrypt("cert_no", enc), "j": _dumps(keys.unseal(_json(person))),
            } for sid, t, enc, person in rows])
        rows = bind.execute(sa.text("SELECT position, cert_no_enc FROM records")).all()
        if rows:
            bind.execute(sa.text("UPDATE records SET cert_no = :n WHERE position = :p"),
                         [{"p": p, "n": keys.fields.decrypt("cert_no", e)} for p, e in rows])
    with op.batch_alter_table('records') as batch:
        batch.drop_index('ix_records_unit_cert_no_bidx')
        batch.drop_column('cert_no_enc')
        batch.drop_column('cert_no_bidx')
        batch.alter_column('cert_no', existing_type=sa.String(length=30), nullable=False)
        batch.create_index('ix_records_unit_cert_no', ['unit_id', 'cert_no'], unique=False)
    with op.batch_alter_table('persons') as batch:
        batch.drop_index('ux_persons_cert_no_bidx')
        batch.drop_column('cert_no_enc')
        batch.drop_column('cert_no_bidx')
        batch.alter_column('cert_no', existing_type=sa.String(length=30), nullable=False)
    op.drop_table('projection_keys')
