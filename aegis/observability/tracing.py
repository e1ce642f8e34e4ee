"""OpenTelemetry traces: one trace per document, off unless an OTLP endpoint is configured.

Configuration is the standard OpenTelemetry environment, nothing of our own:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) turns
tracing on; ``OTEL_EXPORTER_OTLP_PROTOCOL`` picks ``http/protobuf`` (the default)
or ``grpc``; ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER`` and ``OTEL_SDK_DISABLED`` mean what the specification says.

When tracing is off, nothing from the SDK is imported and every helper here
returns after one boolean test, so the pipeline pays nothing for it.

The SDK starts its exporter thread in the process that exports, so it is set up
after the fork: in each gunicorn worker (``post_fork`` in web/gunicorn_conf.py)
and in each Celery pool child (``worker_process_init`` in tasks/tracing.py).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("aegis.observability.tracing")

#: What the spans of our own code carry (the instrumentation packages add the rest).
DOCUMENT_ID = "aegis.document_id"
TENANT = "aegis.tenant"
STAGE = "aegis.stage"
ATTEMPT = "aegis.attempt"
BATCH = "aegis.batch"
OUTCOME = "aegis.outcome"
ERROR_CODE = "aegis.error_code"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_state: dict[str, Any] = {"active": False, "provider": None}


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint is set and the SDK is not disabled."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def active() -> bool:
    """Whether this process exports spans (``setup`` ran and tracing is configured)."""
    return bool(_state["active"])


def protocol(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    value = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "")
    return value.strip().lower() or "http/protobuf"


#: The protocols we export over, and the module each needs. gRPC is an optional extra
#: (``aegis[otlp-grpc]``): grpcio is the largest dependency of all, and the image leaves it out.
PROTOCOLS = {
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http",
    "grpc": "opentelemetry.exporter.otlp.proto.grpc",
}
GRPC_EXTRA = "aegis[otlp-grpc]"


def exporter_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the configured exporter cannot start, in one line naming the variable; None when it can.

    Checked when settings load (every process start), so ``grpc`` without its extra stops
    the gateway and the workers at once instead of failing in each forked child later.
    Looks the exporter's module up without importing it; nothing is looked up when
    tracing is off.
    """
    env = os.environ if environ is None else environ
    if not configured(env):
        return None
    name = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" if env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            else "OTEL_EXPORTER_OTLP_PROTOCOL")
    value = protocol(env)
    module = PROTOCOLS.get(value)
    if module is None:
        return f"{name} must be one of {', '.join(sorted(PROTOCOLS))}, got {value!r}"
    if not _installed(module):
        if value == "grpc":
            return (f"{name}=grpc needs the OTLP gRPC exporter, which is not installed: "
                    f"pip install '{GRPC_EXTRA}' (or export over http/protobuf, the default)")
        return f"{name}={value} needs {module}, which is not installed"
    return None


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or blocked in sys.modules
        return False


def setup(service_name: str) -> bool:
    """Start the SDK and the instrumentations in this process, once; False when tracing is off.

    ``service_name`` is the default for ``OTEL_SERVICE_NAME`` (``aegis-gateway``,
    ``aegis-worker``), so a trace shows which process a span came from.
    """
    if _state["active"]:
        return True
    if not configured():
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; ours is only the fallback.
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name})
    resource = resource.merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    _instrument_libraries()
    _state.update(active=True, provider=provider)
    log.info("tracing on: OTLP over %s", protocol())
    return True


def _exporter() -> Any:
    """The OTLP span exporter for the configured protocol; both read the OTEL_EXPORTER_OTLP_* variables."""
    if protocol() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        _grpc_under_gevent()
        return GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def _grpc_under_gevent() -> None:
    """gRPC's core blocks the event loop unless told about gevent (the gateway's workers)."""
    try:
        from gevent import monkey
    except ImportError:
        return
    if monkey.is_module_patched("socket"):
        from grpc.experimental import gevent as grpc_gevent

        grpc_gevent.init_gevent()


def _instrument_libraries() -> None:
    """Database, Redis, HTTP and Celery calls become child spans through the instrumentation packages."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    CeleryInstrumentor().instrument()
    # The package declares "sqlalchemy < 2.1" while its hooks (engine events) work on 2.1 as well.
    SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    RedisInstrumentor().instrument()
    RequestsInstrumentor().instrument()
    try:
        import botocore  # noqa: F401 - S3 calls, when the blob store is a bucket
    except ImportError:
        return
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    BotocoreInstrumentor().instrument()


def instrument_flask(app: Any) -> None:
    """A server span per request, the root of an upload's trace (no-op when tracing is not configured).

    Spans are created through the API's proxy tracer, so this may run before
    ``setup`` (the app is built in the gunicorn worker after ``post_fork``).
    """
    if not configured():
        return
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    FlaskInstrumentor().instrument_app(app, excluded_urls="health,ready,metrics")


def shutdown() -> None:
    """Flush what is buffered: a worker child or gateway worker is about to exit."""
    provider = _state["provider"]
    if provider is not None:
        provider.shutdown()
        _state.update(active=False, provider=None)


def annotate(**attributes: Any) -> None:
    """Set ``aegis.<key>`` attributes on the current span (document_id, tenant, stage, attempt, outcome, ...)."""
    if not _state["active"]:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({f"aegis.{k}": v for k, v in attributes.items() if v is not None})


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, stored with a document so later work can link to it."""
    if not _state["active"]:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex for log lines, or None outside a span or when tracing is off."""
    if not _state["active"]:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id inside a stored ``traceparent`` (what the document's JSON shows)."""
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


def linked_span(name: str, traceparent: str | None, **attributes: Any) -> Any:
    """A span in the current trace linking to the trace in ``traceparent``: the reconciler's re-send of
    a document started by an upload whose trace has ended. A no-op context manager when tracing is off."""
    from contextlib import nullcontext

    if not _state["active"]:
        return nullcontext()
    from opentelemetry import trace

    links = []
    match = _TRACEPARENT.match(traceparent or "")
    if match:
        linked = trace.SpanContext(
            trace_id=int(match.group(1), 16), span_id=int(match.group(2), 16), is_remote=True,
            trace_flags=trace.TraceFlags(int(match.group(3), 16)),
        )
        links.append(trace.Link(linked, {"aegis.link": "document_trace"}))
    tracer = trace.get_tracer("aegis")
    return tracer.start_as_current_span(
        name, links=links, attributes={f"aegis.{k}": v for k, v in attributes.items() if v is not None}
    )
