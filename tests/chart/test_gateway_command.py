"""The chart starts the gateway with the command ``aegis dev`` and the test harness use."""

from __future__ import annotations

from aegis.cli.devserver import gateway_argv

from .chartlib import containers, render


def test_the_gateway_runs_the_gevent_worker_config_like_aegis_dev() -> None:
    (gateway,) = render().component("Deployment", "gateway")
    args = containers(gateway)[0]["args"]
    local = gateway_argv("127.0.0.1", 8000)
    config = local[local.index("-c") + 1]
    assert f"--config={config}" in args
    assert args[-1] == local[-1] == "web:create_app()"
    assert not any(a.startswith("--threads") for a in args)  # threads are the gthread worker's
    assert "--worker-connections=1000" in args
    (tuned,) = render({"gateway": {"workerConnections": 2000}}).component("Deployment", "gateway")
    assert "--worker-connections=2000" in containers(tuned)[0]["args"]
