"""The personal fields of the declarations database, sealed where they are
stored (issue 17, docs/protection.md "The event log").

证件号码, 联系电话 and the two addresses never reach the `events`, `persons` or
`records` tables in clear: wherever one of PROTECTED is a key of an event's
data (at the top, or inside a nested dict such as a change's before/after)
or of a person's state, its value is replaced by a token of the store's
FieldProtector, the key name being the field name. Everything above the
store (deciding, folding, the answers, the relay and GET /api/events) sees
full values: the store seals on the way in and opens on the way out.

Persons are found by the blind index of their 证件号码 (`cert_no_bidx`); a
person's stream id is given at its first event (`new_stream_id`) and only
looked up afterwards, so the log never depends on the index key.
"""
from common.protect.runtime import Protection

PROTECTED = frozenset(("cert_no", "phone", "hukou_address", "address"))
STREAM_PREFIX = "p:"


def seal(p: Protection, data: dict, tokens: dict | None = None) -> dict:
    """A copy of `data` with every protected field's value a token.

    `tokens`, if given, maps (field, value) to a token of that value in that
    field: one found there is copied instead of encrypting again, and new
    ones are added. A token is bound to its field and data key, not to a
    row, so the projections of an append copy the event's tokens (one
    encryption per value instead of three: event, person, record)."""
    out = {}
    for key, value in data.items():
        if key in PROTECTED and isinstance(value, str):
            out[key] = token(p, key, value, tokens)
        elif isinstance(value, dict):
            out[key] = seal(p, value, tokens)
        else:
            out[key] = value
    return out


class Sealed(str):
    """A token a rebuild left closed (`open_for_rebuild`): `seal` writes it
    again as it is."""
    __slots__ = ()


class Opened(str):
    """A 证件号码 a rebuild opened, remembering the token it came from and,
    once computed, its blind index: the rebuilt person and record copy them
    instead of encrypting and indexing again."""

    token: str
    bidx: str | None = None


def token(p: Protection, field: str, value: str, tokens: dict | None = None) -> str:
    """A token of `value` in `field`, copied from `tokens` when it holds one
    (or from the value itself, when a rebuild left it closed or remembers it)."""
    if type(value) is Sealed:
        return value
    if type(value) is Opened:
        return value.token
    if tokens is None:
        return p.fields.encrypt(field, value)
    found = tokens.get((field, value))
    if found is None:
        found = tokens[(field, value)] = p.fields.encrypt(field, value)
    return found


def unseal(p: Protection, data: dict) -> dict:
    """`data` with the tokens of `seal` opened again (changed in place and
    returned: callers pass a dict they just parsed)."""
    decrypt = p.fields.decrypt
    for key, value in data.items():
        if key in PROTECTED and isinstance(value, str):
            data[key] = decrypt(key, value)
        elif isinstance(value, dict):
            unseal(p, value)
    return data


def open_for_rebuild(p: Protection, event: dict, persons: dict) -> dict:
    """`event` with only its 证件号码 opened (an Opened, remembering its
    token), the other protected fields left closed (Sealed): a rebuild
    needs the number for the blind indexes and writes the phone and
    addresses back as the tokens they are (the folds never read them).
    The number of a person already folded (`persons`: stream id -> state)
    is taken from its state rather than decrypted again. Changed in place
    and returned."""
    data = event["data"]
    _close(data)
    number = data.get("cert_no")
    if type(number) is Sealed:
        state = persons.get(event["stream_id"])
        known = state["cert_no"] if state is not None else None
        if type(known) is Opened:
            data["cert_no"] = known
        else:
            opened = data["cert_no"] = Opened(p.fields.decrypt("cert_no", number))
            opened.token = str(number)
    return event


def _close(data: dict) -> None:
    """Mark every protected field's token in `data` (nested dicts too) Sealed."""
    for key, value in data.items():
        if key in PROTECTED and isinstance(value, str):
            data[key] = Sealed(value)
        elif type(value) is dict:
            _close(value)


def cert_no_index(p: Protection, cert_type: str, cert_no: str) -> str:
    """The blind index of a 证件号码, computed once per Opened number."""
    found = getattr(cert_no, "bidx", None)
    if found is None:
        found = p.index.cert_no(cert_type, cert_no)
        if type(cert_no) is Opened:
            cert_no.bidx = found
    return found


def unseal_events(p: Protection, events: list) -> list:
    """Events read from the log with their data opened (in place)."""
    for event in events:
        unseal(p, event["data"])
    return events


def new_stream_id(p: Protection, cert_type: str, cert_no: str) -> str:
    """The stream id a person gets at its first event: "p:" and the blind
    index of its 证件号码 (34 characters). Derived, so two first declarations
    of one person at the same moment still collide on stream version 1; after
    the first event it is read from `persons`, never derived again."""
    return STREAM_PREFIX + p.index.cert_no(cert_type, cert_no)
