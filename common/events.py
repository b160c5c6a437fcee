"""The event contract of declarations (docs/events.md): type names and the
payload every consumer receives, from the relay's messages and from
`declarations.events_after` alike. One builder, so both carry the same shape."""

SCHEMA_VERSION = 1

ENROLLED = "resident_enrolled"  # action new_enrolment or resume
TRANSFERRED = "resident_transferred"  # action transfer_in; data.from_unit loses the person
SUSPENDED = "resident_suspended"
INFO_CHANGED = "resident_info_changed"
TYPES = (ENROLLED, TRANSFERRED, SUSPENDED, INFO_CHANGED)

EXCHANGE = "declarations.events"


def payload(event):
    """The published form of a stored event.

    `event` is a dict with position, event_id, type, stream_version,
    occurred_at (an aware datetime, UTC), data and metadata, as the
    declarations store reads it from its log.
    """
    data, meta = event["data"], event["metadata"]
    return {
        "position": event["position"],
        "event_id": event["event_id"],
        "type": event["type"],
        "schema_version": meta.get("schema_version", SCHEMA_VERSION),
        "occurred_at": event["occurred_at"].isoformat(),
        "unit": meta["unit"],
        "person": {"cert_type": data["cert_type"], "cert_no": data["cert_no"], "name": data["name"]},
        "data": data,
        "batch_no": meta.get("batch_no"),
        "record_id": meta.get("record_id"),
        "stream_version": event["stream_version"],
    }
