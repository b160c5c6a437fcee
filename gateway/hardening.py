"""Browser-facing protections: security headers on every answer, request
body size limits on every endpoint, the client address behind trusted
proxies, and a refusal to run production on defaults."""
import io
import os

from flask import current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from common import production
from common.errors import NotFound, TooLarge

# Every JSON body of the API but a notice's is at most a few KB; views that
# take more say so with `max_body` (notices) or `upload_body` (uploads).
JSON_BODY_LIMIT = 64 * 1024

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    # The portal sets styles from scripts; no inline <script> is allowed.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

def add_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def max_body(size):
    """Marks a view whose JSON body may be up to `size` bytes."""
    def mark(view):
        view.body_limit = size
        return view

    return mark


def upload_body(view):
    """Marks an upload view: its body may be as large as MAX_CONTENT_LENGTH
    (the configured upload limit plus room for the multipart envelope)."""
    view.body_limit = "upload"
    return view


def body_limit():
    """The most bytes the current request's body may have."""
    view = current_app.view_functions.get(request.endpoint)
    limit = getattr(view, "body_limit", None)
    if limit == "upload":
        return current_app.config["MAX_CONTENT_LENGTH"]
    if isinstance(limit, int):
        return limit
    return current_app.config.get("JSON_BODY_LIMIT", JSON_BODY_LIMIT)


def _refuse(limit):
    shown = f"{limit // 1024}KB" if limit < 1024 * 1024 else f"{limit / (1024 * 1024):g}MB"
    raise TooLarge(f"请求内容过大，不能超过{shown}", {"body": [f"请求内容不能超过{shown}"]})


def limit_body():
    """Refuses a body announced too large before anything reads it. A body
    sent without a length (chunked, which gunicorn marks as terminated) is
    read up to one byte past the limit here, so that it too is a 413 and
    not silently cut short."""
    limit = body_limit()
    request.max_content_length = limit
    length = request.content_length
    if length is None and request.environ.get("wsgi.input_terminated"):
        data = request.environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            _refuse(limit)
        request.environ["wsgi.input"] = io.BytesIO(data)
        request.environ["CONTENT_LENGTH"] = str(len(data))
        request.environ.pop("wsgi.input_terminated", None)
        return
    if limit == current_app.config["MAX_CONTENT_LENGTH"]:
        return  # an upload view answers an oversize file itself, naming the file limit
    if (length or 0) > limit:
        _refuse(limit)


# Ids are 32-bit integers in every database (PostgreSQL `integer`).
MAX_ID = 2**31 - 1


def ids_in_range():
    """An integer path parameter no row can have is 404 here, before a
    service is asked (a bigger number than the database's integers used to
    fail inside the service). Not a converter maximum: werkzeug would then
    answer 405 when another method of the same path exists."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and value > MAX_ID:
            raise NotFound("请求的内容不存在")


def register(app):
    production.check()
    app.before_request(limit_body)
    app.before_request(ids_in_range)
    proxies = int(os.environ.get("TRUSTED_PROXIES", "0"))
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    app.after_request(add_headers)
