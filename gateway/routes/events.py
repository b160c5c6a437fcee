"""The declaration log for downstream systems: read in position order from
any point, to catch up after downtime or to fill a gap (docs/events.md)."""
from gateway.api import Blueprint
from gateway.schemas.events import EventFeedSchema, EventsArgs
from gateway.services import rpc

blp = Blueprint("events", __name__, url_prefix="/api/events", description="Event feed")


@blp.route("", methods=["GET"])
@blp.secured("downstream", "admin")
@blp.arguments(EventsArgs, location="query")
@blp.response(200, EventFeedSchema)
@blp.errors(400, 401, 403)
def events(args):
    """Events after position `after`, at most `limit`, in position order,
    in the payload shape of the broker's messages."""
    answer = rpc().declarations.events_after(args["after"], args["limit"])
    items = answer["items"] if isinstance(answer, dict) else answer
    next_after = items[-1]["position"] if items else args["after"]
    body = {"items": items, "next_after": next_after}
    if isinstance(answer, dict) and answer.get("log"):
        body["log"] = answer["log"]
    return body
