"""List answers de-identified at the edge (issue 17 point 3, GB/T 35273,
docs/protection.md): the declaration records and a batch's failed rows come
from the declarations service with full values; the gateway masks their
证件号码 (common.protect.masking, the rule the roster and the logs use) and
adds the person's opaque `person_id`, which `GET /api/residents/p/{person_id}`
opens for the unit holding the person. The roster's lines come masked from
the residents service itself. The auditor's search masks the 证件号码 its
records name (the export keeps them whole).

The gateway holds the blind-index key only (EDT_PI_INDEX_KEY is enough; no
master key), loaded when the app is created: a production gateway without it
does not start."""
from flask import current_app

from common.protect import mask_cert_no, process_index


def register(app):
    app.extensions["person_ids"] = process_index()


def person_id(cert_type, cert_no):
    """The person's opaque id, or None when the row names no certificate."""
    if not cert_type or not cert_no:
        return None
    return current_app.extensions["person_ids"].person_id(cert_type, str(cert_no))


def record(item):
    """A line of the records list: the number masked, the person's id added."""
    return {**item, "cert_no": mask_cert_no(item.get("cert_no")),
            "person_id": person_id(item.get("cert_type"), item.get("cert_no"))}


def record_detail(detail):
    """One record (a details answer: full values), with the person's id."""
    return {**detail, "person_id": person_id(detail.get("cert_type"), detail.get("cert_no"))}


def batch(answer):
    """A batch with its failed rows masked (the failures file keeps them whole)."""
    if not isinstance(answer, dict) or not answer.get("failures"):
        return answer
    return {**answer, "failures": [
        {**f, "cert_no": mask_cert_no(f.get("cert_no")), "person_id": person_id(f.get("cert_type"), f.get("cert_no"))}
        for f in answer["failures"]]}


def audit_page(page):
    """The auditor's search: the 证件号码 a record's object names, masked."""
    for item in page.get("items") or []:
        obj = item.get("object")
        if isinstance(obj, dict) and isinstance(obj.get("cert_no"), str):
            item["object"] = {**obj, "cert_no": mask_cert_no(obj["cert_no"])}
    return page
