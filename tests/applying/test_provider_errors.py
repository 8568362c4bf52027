"""The SDKs' failures become one diagnostic each: TLS, timeouts, refused connections, missing
credentials, HTTP statuses; the SDK's exception stays chained as the cause."""

from __future__ import annotations

import httpx2 as httpx
import openai
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)

from reconciler.errors import PermanentError, ProviderError, RetryableError
from reconciler.providers.azure_errors import call

REQUEST = httpx.Request("GET", "https://acct.openai.azure.com/openai/files")


def failing(exc: BaseException) -> ProviderError:
    def boom() -> None:
        raise exc

    with pytest.raises(ProviderError) as caught:
        call(boom, "list files in main")
    assert caught.value.__cause__ is exc
    return caught.value


@pytest.mark.parametrize(
    ("exc", "kind", "code", "words"),
    [
        (
            ServiceRequestError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            PermanentError,
            "TLS_FAILED",
            "TLS failed",
        ),
        (ServiceResponseTimeoutError("Read timed out"), RetryableError, "TIMEOUT", "timed out"),
        (openai.APITimeoutError(request=REQUEST), RetryableError, "TIMEOUT", "timed out"),
        (
            ServiceRequestError(
                "Failed to establish a new connection: [Errno 111] Connection refused"
            ),
            RetryableError,
            "CONNECTION_FAILED",
            "connection refused",
        ),
        (
            ClientAuthenticationError(
                "DefaultAzureCredential failed to retrieve a token.\nlong list"
            ),
            PermanentError,
            "AUTH_FAILED",
            "no usable Azure credentials: DefaultAzureCredential failed to retrieve a token.",
        ),
    ],
)
def test_each_failure_is_one_line_with_a_hint(
    exc: BaseException, kind: type[ProviderError], code: str, words: str
) -> None:
    error = failing(exc)
    assert isinstance(error, kind) and error.code == code
    assert error.message.startswith("list files in main: ") and words in error.message
    assert "\n" not in error.message and error.hint


def test_a_status_keeps_the_service_code_and_a_hint() -> None:
    response = httpx.Response(
        429, request=REQUEST, json={"error": {"code": "tooManyRequests", "message": "slow down"}}
    )
    error = failing(openai.RateLimitError("slow down", response=response, body=response.json()))
    assert isinstance(error, RetryableError) and (error.code, error.status) == ("HTTP_429", 429)
    assert "(tooManyRequests) slow down" in error.message and error.hint
