"""``GET /metrics`` and the request instrumentation behind it."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request

from aegis.observability.metrics import metrics, render
from web.context import settings

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def prometheus() -> Response:
    return Response(render(settings()), mimetype="text/plain; version=0.0.4")


def instrument(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        # The route pattern, not the URL: ids must not explode the label set.
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        m = metrics()
        m.http_requests.labels(request.method, endpoint, str(response.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            m.http_latency.labels(endpoint).observe(time.perf_counter() - started)
        return response
