"""Tracing is configured by the standard OTEL_* variables, and costs nothing when off."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from aegis.observability import tracing
from aegis.services.documents import to_dict


def test_tracing_is_on_only_with_an_otlp_endpoint_and_not_disabled() -> None:
    assert not tracing.configured({})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert not tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"})


def test_the_protocol_defaults_to_http_protobuf_and_follows_the_standard_variables() -> None:
    assert tracing.protocol({}) == "http/protobuf"
    assert tracing.protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) == "grpc"
    both = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}
    assert tracing.protocol(both) == "http/protobuf"


def test_the_trace_id_is_read_from_a_stored_traceparent_and_junk_gives_none() -> None:
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert tracing.trace_id_of(tp) == "0af7651916cd43dd8448eb211c80319c"
    assert tracing.trace_id_of(None) is None
    assert tracing.trace_id_of("00-xyz") is None


def test_helpers_do_nothing_while_tracing_is_off() -> None:
    assert not tracing.active()
    tracing.annotate(document_id="d")
    assert tracing.current_traceparent() is None
    assert tracing.current_ids() is None
    with tracing.linked_span("reconcile", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"):
        pass


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


def test_without_otel_variables_the_gateway_and_workers_never_import_the_sdk(tmp_path) -> None:
    result = _run(f"""
        import sys
        from aegis.config import load_settings
        from aegis.observability import tracing
        import tasks.app, tasks.stages, tasks.reconcile
        from web import create_app
        settings = load_settings({{"AEGIS_DATA_DIR": {str(tmp_path)!r}}})
        create_app(settings)
        assert tracing.setup("aegis-worker") is False
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        print(loaded)
        assert not loaded
    """)
    assert result.returncode == 0, result.stdout + result.stderr


def test_with_an_endpoint_the_sdk_starts_and_spans_carry_the_document_attributes() -> None:
    result = _run("""
        from aegis.observability import tracing
        assert tracing.setup("aegis-test")
        from opentelemetry import trace
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        memory = InMemorySpanExporter()
        trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(memory))
        with trace.get_tracer("t").start_as_current_span("upload"):
            tracing.annotate(document_id="d1", stage="validate", attempt=1)
            parent = tracing.current_traceparent()
            ids = tracing.current_ids()
        with tracing.linked_span("reconcile redispatch content", parent, document_id="d1"):
            pass
        upload, resend = memory.get_finished_spans()
        assert upload.attributes["aegis.document_id"] == "d1" and upload.attributes["aegis.attempt"] == 1
        assert ids == (f"{upload.context.trace_id:032x}", f"{upload.context.span_id:016x}")
        assert resend.links[0].context.trace_id == upload.context.trace_id
        assert resend.resource.attributes["service.name"] == "aegis-test"
        tracing.shutdown()
    """, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_BSP_SCHEDULE_DELAY="60000")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_document_json_carries_the_trace_id_of_its_traceparent() -> None:
    from datetime import UTC, datetime

    from aegis.persistence.models import Document

    now = datetime.now(UTC)
    document = Document(id="d", tenant_id="t", filename="a.pdf", sha256="0" * 64, size=1, status="queued",
                        created_at=now, updated_at=now, stage_runs=[],
                        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert to_dict(document)["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    document.traceparent = None
    assert to_dict(document)["trace_id"] is None


def test_with_protocol_grpc_spans_reach_an_otlp_grpc_receiver() -> None:
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[str] = []

    class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def]  # noqa: N802 - gRPC's name
            received.extend(s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        result = _run("""
            from aegis.observability import tracing
            assert tracing.setup("aegis-test")
            from opentelemetry import trace
            with trace.get_tracer("t").start_as_current_span("over grpc"):
                pass
            tracing.shutdown()
        """, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}", OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
            OTEL_EXPORTER_OTLP_INSECURE="true")
        assert result.returncode == 0, result.stdout + result.stderr
        assert received == ["over grpc"]
    finally:
        server.stop(None)


# The gRPC exporter is the optional extra aegis[otlp-grpc]; the test extra installs it, so its
# absence is simulated the way Python spells "not installed": a None entry in sys.modules.
def _run_without_grpc_exporter(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    blocked = 'import sys; sys.modules["opentelemetry.exporter.otlp.proto.grpc"] = None\n'
    return _run(blocked + textwrap.dedent(code), **env)


def test_grpc_without_its_extra_stops_a_worker_at_start_naming_the_extra(tmp_path) -> None:
    result = _run_without_grpc_exporter("import celeryconfig\nprint('started')\n",
                                        AEGIS_DATA_DIR=str(tmp_path),
                                        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4317",
                                        OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "started" not in result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("aegis: error: OTEL_EXPORTER_OTLP_PROTOCOL=grpc "), line
    assert "pip install 'aegis[otlp-grpc]'" in line


def test_the_exporter_check_names_the_variable_and_looks_nothing_up_while_tracing_is_off(tmp_path) -> None:
    result = _run_without_grpc_exporter("""
        import os, sys
        from aegis.config import SettingsError, load_settings
        from aegis.observability import tracing
        off = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        assert tracing.exporter_problem(off) is None
        assert not any(m.startswith("opentelemetry") and sys.modules[m] for m in sys.modules)
        on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
        assert tracing.exporter_problem(on) is None
        traces = {**on, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}
        assert tracing.exporter_problem(traces).startswith("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc needs")
        json = {**on, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
        assert tracing.exporter_problem(json) == (
            "OTEL_EXPORTER_OTLP_PROTOCOL must be one of grpc, http/protobuf, got 'http/json'")
        try:
            load_settings({"AEGIS_DATA_DIR": os.environ["AEGIS_DATA_DIR"], **json})
        except SettingsError as exc:
            assert str(exc).startswith("OTEL_EXPORTER_OTLP_PROTOCOL must be"), exc
        else:
            raise AssertionError("an unknown protocol was accepted")
    """, AEGIS_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_grpc_with_its_extra_installed_passes_the_check() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    assert tracing.exporter_problem(env) is None
