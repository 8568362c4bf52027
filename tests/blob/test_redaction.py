"""URLs in messages: SAS signatures and other secrets are replaced by REDACTED."""

from __future__ import annotations

import pytest

from reconciler.providers.blob import is_loopback_host, redact_text, redact_url

SAS_URL = (
    "https://acct.blob.core.windows.net/data/train.jsonl"
    "?sv=2024-11-04&sp=r&se=2030-01-01T00%3A00%3A00Z&sr=b&skoid=1234-abcd&sig=AbC%2Bd%2FeF%3D"
)


def test_redact_url_keeps_what_the_sas_allows_and_hides_the_signature() -> None:
    assert redact_url(SAS_URL) == (
        "https://acct.blob.core.windows.net/data/train.jsonl"
        "?sv=2024-11-04&sp=r&se=2030-01-01T00%3A00%3A00Z&sr=b&skoid=REDACTED&sig=REDACTED"
    )


def test_redact_url_hides_user_info_fragments_and_foreign_tokens() -> None:
    assert redact_url("https://user:pw@host/x.jsonl?token=t0k3n&v=1#access_token=abc") == (
        "https://REDACTED@host/x.jsonl?token=REDACTED&v=REDACTED#REDACTED"
    )
    assert redact_url("https://host/x.jsonl") == "https://host/x.jsonl"


def test_redact_text_removes_encoded_and_decoded_signatures() -> None:
    text = f"GET {SAS_URL} failed; signature AbC+d/eF= did not match; sig=other AccountKey=k3y=="
    shown = redact_text(text, SAS_URL)
    for secret in ("AbC%2Bd%2FeF%3D", "AbC+d/eF=", "sig=other", "k3y"):
        assert secret not in shown
    assert "sig=REDACTED" in shown and "AccountKey=REDACTED" in shown


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1.example.com", False),
        ("example.com", False),
        ("10.0.0.1", False),
        (None, False),
    ],
)
def test_loopback_is_decided_from_the_text(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
