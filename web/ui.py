"""The browser page at ``/``: sign in with an API key, upload, follow, read, search.

The page is a server-rendered shell plus a little vanilla JavaScript that calls the
same ``/v1`` JSON API as any other client, with the key the person typed. The key
stays in the browser (``sessionStorage``): the server never renders it, sets no
cookie, and so needs no CSRF defence for the page. Nothing is loaded from another
origin, which the Content-Security-Policy below makes a rule rather than a habit.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from aegis.pipeline.registry import STAGES

bp = Blueprint("ui", __name__)

# Only our own scripts, styles and API; no inline script, no framing (clickjacking),
# and no Referer so a key in an EventSource query string never leaves in a header.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def secure_page(response: Response) -> Response:
    """Headers every HTML page of ours carries (also used by the ``/docs`` page)."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


@bp.after_request
def _headers(response: Response) -> Response:
    return secure_page(response)


@bp.get("/")
def index() -> str:
    return render_template("index.html", stages=STAGES)
