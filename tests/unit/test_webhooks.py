"""Webhook URL policy and signatures."""

from __future__ import annotations

import pytest

from aegis.config import load_settings
from aegis.services import webhooks

SETTINGS = load_settings({"AEGIS_WEBHOOK_SECRET": "s3cret"})


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x", "http://localhost:8080/", "http://10.1.2.3/", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://172.16.5.4/",
])
def test_private_and_local_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(webhooks.WebhookError) as err:
        webhooks.check_url(url, SETTINGS)
    assert err.value.code == "private_callback_url"


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "http://", "http://u:p@8.8.8.8/"])
def test_non_http_urls_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(webhooks.WebhookError) as err:
        webhooks.check_url(url, SETTINGS)
    assert err.value.code == "invalid_callback_url"


def test_private_addresses_are_allowed_when_configured() -> None:
    allowed = load_settings({"AEGIS_WEBHOOK_SECRET": "s", "AEGIS_ALLOW_PRIVATE_WEBHOOKS": "1"})
    assert webhooks.check_url("http://127.0.0.1:9/x", allowed) == "http://127.0.0.1:9/x"


def test_webhooks_need_a_secret() -> None:
    with pytest.raises(webhooks.WebhookError) as err:
        webhooks.check_url("http://8.8.8.8/", load_settings({}))
    assert err.value.code == "webhooks_disabled"


def test_a_signature_verifies_only_with_the_same_secret_and_body() -> None:
    header = webhooks.sign("s3cret", b'{"a":1}')
    assert webhooks.verify("s3cret", b'{"a":1}', header)
    assert not webhooks.verify("s3cret", b'{"a":2}', header)
    assert not webhooks.verify("other", b'{"a":1}', header)
    assert not webhooks.verify("s3cret", b'{"a":1}', webhooks.sign("s3cret", b'{"a":1}', timestamp=1))
