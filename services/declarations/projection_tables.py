"""Writing what a projection.Fold folded into the declarations service's
projection tables (persons, unit counts, unit months, records, units seen):
added to the stored figures on the live path, into empty tables on a
rebuild. Engine differences go through the event log's recorder.

证件号码 is written as its blind index and a token, the phone and addresses
of a person's `person` as tokens (sealing.py): the folds hold full values."""
from services.declarations import sealing
from services.declarations.campaign import writes as campaign
from services.declarations.eventlog import recorder, to_json
from services.declarations.models import Person, Record, UnitCount, UnitMonth, UnitSeen

PERSON_COLUMNS = ("status", "unit_id", "version", "since", "person")
RECORD_COLUMNS = ("record_id", "position", "unit_id", "business_type", "action", "cert_type",
                  "cert_no_bidx", "cert_no_enc", "name", "declared_at", "batch_no")

_UPSERTS = {}


def upsert(conn, table, rows, keys, update):
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET `update(table, excluded)`.
    One form per table and dialect, built once (building it costs a third
    of a declaration's time)."""
    if not rows:
        return
    cache_key = (conn.dialect.name, table.name)
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:
        stmt = recorder(conn).insert(table)
        stmt = _UPSERTS[cache_key] = stmt.on_conflict_do_update(
            index_elements=keys, set_=update(table, stmt.excluded))
    conn.execute(stmt, rows)


def person_row(p, state):
    """The stored row of a folded person's state, sealed with `p`."""
    cert_type, cert_no = state["cert_type"], state["cert_no"]
    return {
        "stream_id": state["stream_id"], "cert_type": cert_type,
        "cert_no_bidx": sealing.cert_no_index(p, cert_type, cert_no),
        "cert_no_enc": sealing.token(p, "cert_no", cert_no),
        "status": state["status"], "unit_id": state["unit_id"],
        "version": state["version"], "since": state["since"], "person": sealing.seal(p, state["person"]),
    }


def record_row(p, record):
    """A folded record as stored: its number as a blind index and a token."""
    out = {k: v for k, v in record.items() if k != "cert_no"}
    out["cert_no_bidx"] = sealing.cert_no_index(p, record["cert_type"], record["cert_no"])
    out["cert_no_enc"] = sealing.token(p, "cert_no", record["cert_no"])
    return out


def _figures(fold):
    counts = [{"unit_id": u, "insured_count": n} for u, n in fold.counts.items()]
    months = [{"unit_id": u, "month": m, "increase": inc, "decrease": dec}
              for (u, m), (inc, dec) in fold.months.items()]
    units = [{"unit_id": u, "name": unit.get("name"), "credit_code": unit.get("credit_code")}
             for u, unit in fold.units.items()]
    return counts, months, units


def write_live(conn, fold, stored, tokens=None):
    """Write what a Fold folded over one append, adding its counts and month
    figures to the stored ones: one statement per unit and per unit-month,
    persons inserted (those not in `stored`, which have no row) or updated,
    and the records, through the driver. `tokens`: {(field, value): token}
    of the append's events (sealing.seal), copied rather than encrypted again."""
    counts, months, units = _figures(fold)
    upsert(conn, UnitCount.__table__, counts, ["unit_id"],
           lambda t, x: {"insured_count": t.c.insured_count + x.insured_count})
    upsert(conn, UnitMonth.__table__, months, ["unit_id", "month"],
           lambda t, x: {"increase": t.c.increase + x.increase, "decrease": t.c.decrease + x.decrease})
    upsert(conn, UnitSeen.__table__, units, ["unit_id"],
           lambda t, x: {"name": x.name, "credit_code": x.credit_code})
    log = recorder(conn)
    sealed = log.protection
    tokens = {} if tokens is None else tokens
    when, dumps, persons, seal, indexes = log.time_converter(), to_json, fold.persons, sealing.seal, {}

    def encrypt(field, value):
        return sealing.token(sealed, field, value, tokens)

    def bidx(cert_type, cert_no):  # once per person of the append (its record and its row)
        found = indexes.get((cert_type, cert_no))
        if found is None:
            found = indexes[(cert_type, cert_no)] = sealed.index.cert_no(cert_type, cert_no)
        return found
    new, changed = [], []
    for sid in fold.touched:
        p = persons[sid]
        if sid in stored:
            changed.append((p["status"], p["unit_id"], p["version"], when(p["since"]),
                            dumps(seal(sealed, p["person"], tokens)), sid))
        else:
            new.append((sid, p["cert_type"], bidx(p["cert_type"], p["cert_no"]), encrypt("cert_no", p["cert_no"]),
                        p["status"], p["unit_id"], p["version"], when(p["since"]),
                        dumps(seal(sealed, p["person"], tokens))))
    log.insert_rows("persons", ("stream_id", "cert_type", "cert_no_bidx", "cert_no_enc") + PERSON_COLUMNS, new)
    log.update_rows("persons", "stream_id", PERSON_COLUMNS, changed)
    log.insert_rows("records", RECORD_COLUMNS, [
        (r["record_id"], r["position"], r["unit_id"], r["business_type"], r["action"], r["cert_type"],
         bidx(r["cert_type"], r["cert_no"]), encrypt("cert_no", r["cert_no"]), r["name"],
         when(r["declared_at"]), r["batch_no"]) for r in fold.take_records()])
    campaign.write_live(conn, fold.campaign)
    fold.campaign = {}


def write_rebuilt(conn, fold):
    """Write a whole replay's Fold into the emptied projection tables."""
    counts, months, units = _figures(fold)
    log = recorder(conn)
    p = log.protection
    persons = [person_row(p, state) for state in fold.persons.values()]
    for table, rows in ((UnitCount, counts), (UnitMonth, months), (Person, persons), (UnitSeen, units)):
        log.bulk_insert(table.__table__, rows)
    write_records(conn, fold.take_records())
    campaign.write_rebuilt(conn, fold.campaign)


def write_records(conn, records):
    """Bulk-insert folded records (a rebuild's chunk) as stored rows."""
    log = recorder(conn)
    p = log.protection
    log.bulk_insert(Record.__table__, [record_row(p, r) for r in records])
