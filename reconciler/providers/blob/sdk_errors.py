"""The lock's Azure SDK errors as ProviderError, with a message that carries no URL or secret."""

from __future__ import annotations

from types import TracebackType

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

from reconciler.errors import PermanentError, RetryableError

from .urls import redact_text


class Translated:
    """Turns the SDK's errors into ProviderError, without chaining them (they carry URLs)."""

    def __init__(self, doing: str, where: str) -> None:
        self.doing = doing
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not isinstance(exc, AzureError):
            return
        message = f"could not {self.doing} on {self.where}: {azure_message(exc)}"
        status = exc.status_code if isinstance(exc, HttpResponseError) else None
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            raise PermanentError(
                message,
                code="LOCK_FAILED",
                hint="grant the identity 'Storage Blob Data Contributor' on the container, or "
                "check the key in the environment variable",
                status=status,
            ) from None
        retryable = status is None or status in (408, 429) or status >= 500
        kind = RetryableError if retryable else PermanentError
        raise kind(
            message, code="LOCK_FAILED", hint="check accountUrl and the network", status=status
        ) from None


def azure_message(exc: AzureError) -> str:
    code = getattr(exc, "error_code", None)
    code = getattr(code, "value", code)  # the storage SDK's StorageErrorCode enum
    status = getattr(exc, "status_code", None)
    if code or status:
        return " ".join(str(part) for part in (status, code) if part)
    first_line = (exc.message or type(exc).__name__).splitlines()[0]
    return redact_text(first_line)
