"""Routes named by swagger operationId, the request a handler sees, and the errors it raises."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

DATA_PLANE_STABLE = (
    "cognitiveservices/data-plane/AzureOpenAI/authoring/stable/2024-10-21/azureopenai.json"
)
DATA_PLANE_PREVIEW = (
    "cognitiveservices/data-plane/AzureOpenAI/authoring/preview/2025-04-01-preview/azureopenai.json"
)
# The v1 API (`/openai/v1/...`) takes no api-version; routes and the request log name it "v1".
V1 = "v1"
PREVIEW = "2025-04-01-preview"
# Versions that have the preview's features (pause/resume, uploads, graders, `method` on jobs).
PREVIEW_FEATURES = (PREVIEW, V1)
CHUNK_BYTES = 1024 * 1024
ARM_SWAGGER = (
    "cognitiveservices/resource-manager/Microsoft.CognitiveServices/stable/2025-09-01/"
    "cognitiveservices.json"
)
ML_DIR = (
    "machinelearningservices/resource-manager/Microsoft.MachineLearningServices/stable/2024-04-01"
)
ML_MFE_SWAGGER = f"{ML_DIR}/mfe.json"
ML_WORKSPACE_SWAGGER = f"{ML_DIR}/machineLearningServices.json"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able value, or bytes for raw content
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


class ApiError(Exception):
    """An error answered in the data-plane `ErrorResponse` shape (ErrorCode enum values)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers = headers or {}
        self.extra = extra or {}  # OpenAI-style fields (`param`, `type`) next to code and message

    def reply(self) -> Reply:
        error: dict[str, Any] = {"code": self.code, "message": self.message, **self.extra}
        if self.target is not None:
            error["target"] = self.target
        return Reply(self.status, {"error": error}, dict(self.headers))


class ArmError(ApiError):
    """An error in the ARM common-types `ErrorResponse` shape."""

    def reply(self) -> Reply:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        return Reply(self.status, {"error": error}, dict(self.headers))


@dataclass
class FormFile:
    """A file part of a multipart body. The parser spooled it to a temporary file (on disk once
    it is over 1 MB), so big parts are read in chunks rather than held in memory."""

    filename: str
    size: int
    file: IO[bytes]

    def read(self) -> bytes:
        self.file.seek(0)
        return self.file.read()

    def chunks(self) -> Iterator[bytes]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK_BYTES):
            yield chunk


@dataclass
class Call:
    """One request, as the handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    form: dict[str, Any]
    base_url: str  # scheme://host of the request, for absolute URLs (LRO, nextLink, endpoint)
    now: float  # simulated time, fixed for the whole request
    db: sqlite3.Connection
    emulator: Any  # the Emulator (typed loosely to avoid an import cycle)
    version: str = ""  # "v1" on the v1 paths (which take no api-version), else the api-version

    @property
    def api_version(self) -> str:
        return self.version or self.query.get("api-version", "")

    @property
    def has_preview_features(self) -> bool:
        return self.api_version in PREVIEW_FEATURES

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(
                400, "invalidPayload", f"The request body is not valid JSON: {exc}"
            ) from exc

    def int_query(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ApiError(400, "invalidPayload", f"'{name}' must be an integer.") from exc
        if not low <= value <= high:
            raise ApiError(400, "invalidPayload", f"'{name}' must be between {low} and {high}.")
        return value


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # e.g. /{accountName}/openai/files/{file-id}
    operation: str  # swagger operationId
    handler: Handler
    swagger: tuple[str, ...] = ()  # swagger files (relative to shared/contracts) defining it
    swagger_path: str | None = None  # the path as the swagger spells it
    plane: str = "data"  # data | arm | blob | control
    api_versions: tuple[str, ...] = ()
    regex: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        pattern = re.sub(
            r"\{([^}]+)\}",
            # `{name+}` takes the rest of the path, slashes included (a blob's name).
            lambda m: f"(?P<{_group(m.group(1))}>{'.+' if m.group(1).endswith('+') else '[^/]+'})",
            self.template,
        )
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$", re.IGNORECASE))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(path)
        if found is None:
            return None
        names = re.findall(r"\{([^}]+)\}", self.template)
        return {name: found.group(_group(name)) for name in names}

    @property
    def is_v1(self) -> bool:
        return self.api_versions == (V1,)

    def describe(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "plane": self.plane,
            "method": self.method,
            "path": self.template,
            "swagger_path": self.swagger_path,
            "swagger": list(self.swagger),
            "api_versions": list(self.api_versions),
        }


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def find(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for (method, path), its params, and whether the path exists at all."""
        path_exists = False
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            path_exists = True
            if route.method == method:
                return route, params, True
        return None, {}, path_exists
