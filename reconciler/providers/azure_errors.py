"""SDK failures → the error tree, in one place for both SDKs: HTTP status, connection refused,
TLS, timeouts and missing credentials each become one diagnostic with a hint, the SDK's
exception chained as the cause. Nothing here prints; secrets never enter a message."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import openai
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseTimeoutError,
)

from reconciler.errors import PermanentError, ProviderError, RetryableError

T = TypeVar("T")

NO_CREDENTIALS_HINT = (
    "sign in with 'az login', or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET "
    "(or AZURE_FEDERATED_TOKEN_FILE) for DefaultAzureCredential; to try ftops without Azure, "
    "pass --emulator"
)
NETWORK_HINT = (
    "check the endpoint and the network (with --emulator: is the emulator at "
    "$FTOPS_EMULATOR_URL running?); apply again to resume"
)


def call(fn: Callable[[], T], what: str) -> T:
    """Run one SDK call; translate its failure into our error tree, the cause chained."""
    try:
        return fn()
    except openai.APIStatusError as exc:
        raise status_error(what, exc.status_code, openai_message(exc)) from exc
    except openai.APIConnectionError as exc:
        raise _connection_error(what, exc, exc.__cause__) from exc
    except ClientAuthenticationError as exc:
        raise _auth_error(what, exc) from exc
    except HttpResponseError as exc:
        status = exc.status_code or 0
        code = exc.error.code if exc.error else None
        raise status_error(
            what, status, f"({code}) {exc.message}" if code else exc.message
        ) from exc
    except AzureError as exc:
        raise _connection_error(what, exc, exc.inner_exception) from exc


def _auth_error(what: str, exc: ClientAuthenticationError) -> PermanentError:
    first = (exc.message or str(exc)).strip().splitlines()[0]
    return PermanentError(
        f"{what}: no usable Azure credentials: {first}",
        code="AUTH_FAILED",
        hint=NO_CREDENTIALS_HINT,
    )


def _connection_error(what: str, exc: BaseException, cause: BaseException | None) -> ProviderError:
    """Refused, unreachable, TLS or timed out: one short line, not the transport's chain."""
    text = f"{exc} {cause or ''}"
    if isinstance(exc, openai.APITimeoutError | ServiceResponseTimeoutError) or "timed out" in text:
        return RetryableError(f"{what}: timed out", code="TIMEOUT", hint=NETWORK_HINT)
    if "SSL" in text or "CERTIFICATE" in text.upper():
        return PermanentError(
            f"{what}: TLS failed: {_first_line(cause or exc)}",
            code="TLS_FAILED",
            hint="check the endpoint's certificate, and any proxy between here and Azure",
        )
    reason = "connection refused" if "refused" in text.lower() else _first_line(cause or exc)
    if not isinstance(exc, ServiceRequestError | openai.APIConnectionError):
        reason = _first_line(exc)
    return RetryableError(f"{what}: {reason}", code="CONNECTION_FAILED", hint=NETWORK_HINT)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def openai_message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body, dict) else {}
    code = inner.get("code") if isinstance(inner, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else None
    return f"({code}) {message}" if code else str(message or exc.message)


_HINTS = {
    401: "check the credentials: az login, or the API key's environment variable",
    403: "the identity lacks a role on the account (Cognitive Services OpenAI Contributor)",
    404: "the account, file or job does not exist: check subscription, group and names",
    409: "another operation on this account is in progress; apply again shortly",
    429: "throttled by Azure; apply again later, it resumes where it stopped",
}


def status_error(what: str, status: int, message: str) -> ProviderError:
    cls = RetryableError if status in (408, 409, 429) or status >= 500 else PermanentError
    return cls(
        f"{what}: HTTP {status}: {message}",
        code=f"HTTP_{status}",
        hint=_HINTS.get(status),
        status=status,
    )


def call_with_conflict_retry(fn: Callable[[], T], what: str, attempts: int = 6) -> T:
    """ARM answers 409 to concurrent child operations of one account and its clients do not
    retry 409: back off and try again a few times."""
    for attempt in range(attempts):
        try:
            return call(fn, what)
        except RetryableError as exc:
            if exc.status != 409 or attempt == attempts - 1:
                raise
            time.sleep(min(0.5 * 2**attempt, 8))
    raise AssertionError("unreachable")
