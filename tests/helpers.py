"""The recipe of research/contracts.md §5: the unmodified SDKs, pointed at a local emulator."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from openai import AzureOpenAI

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DATA_PLANE_API_VERSION = "2025-04-01-preview"


class FakeCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("fake-token", int(time.time()) + 3600)


class FakeBearer(SansIOHTTPPolicy):  # type: ignore[type-arg]
    def on_request(self, request: Any) -> None:
        request.http_request.headers["Authorization"] = "Bearer fake-token"


def arm_client(url: str, subscription: str = SUBSCRIPTION, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"polling_interval": 0, "retry_total": 0}
    options.update(kwargs)
    return CognitiveServicesManagementClient(
        FakeCredential(),
        subscription,
        base_url=url,
        authentication_policy=FakeBearer(),
        **options,
    )


def openai_client(url: str, account: str, **kwargs: Any) -> AzureOpenAI:
    options: dict[str, Any] = {
        "api_key": "test-key",
        "api_version": DATA_PLANE_API_VERSION,
        "max_retries": 0,
    }
    options.update(kwargs)
    return AzureOpenAI(azure_endpoint=f"{url}/{account}", **options)
