"""Secrets never reach a message."""

from __future__ import annotations

from usertrack.errors import SourceConnectionError, redact, register_secret


def test_redact_urls_keys_and_registered_secrets() -> None:
    assert (
        redact("postgresql://bob:s3cret@ep-x.neon.tech/db")
        == "postgresql://bob:***@ep-x.neon.tech/db"
    )
    assert "hunter2" not in redact("password=hunter2 host=x")
    assert "abc.def" not in redact("Authorization: Bearer abc.def")
    assert "phx_" + "A" * 20 not in redact("key phx_" + "A" * 20)
    register_secret("very-secret-value")
    err = SourceConnectionError("failed with very-secret-value inside", hint="very-secret-value")
    assert "very-secret-value" not in str(err) and "very-secret-value" not in (err.hint or "")
