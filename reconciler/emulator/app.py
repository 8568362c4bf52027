"""The ASGI application: routing, auth and api-version checks, faults, one transaction per
request, the request log."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import formatdate
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from reconciler.emulator import arm_deployments, files, training, uploads
from reconciler.emulator.clock import SimClock
from reconciler.emulator.faults import Faults
from reconciler.emulator.routes import all_routes
from reconciler.emulator.routing import (
    V1,
    ApiError,
    ArmError,
    Call,
    FormFile,
    Reply,
    Route,
    Router,
)
from reconciler.emulator.store import TABLES, Store, bump, dumps

log = logging.getLogger("reconciler.emulator")

# How many items a real ARM list page holds is not documented for Microsoft.CognitiveServices (its
# swagger pages by nextLink with no $top; ARM's guidance: follow nextLink, assume no size). 100
# is an assumption; the tests' emulators page at 2, so that every list crosses a page boundary.
DEFAULT_ARM_PAGE_SIZE = 100
# The request log keeps the newest entries only (a long `ftops emulator` session polls a lot);
# /_emulator/stats reads counters, which are never trimmed.
REQUEST_LOG_SIZE = 50_000


READS = ("GET", "HEAD")  # a blob's properties are read with HEAD


class Emulator:
    """One emulated Azure: a state file, a simulated clock, faults and the routes."""

    def __init__(
        self,
        state: Path,
        *,
        time_scale: float,
        faults: str | None = None,
        record_bodies: bool = False,
        arm_page_size: int = DEFAULT_ARM_PAGE_SIZE,
    ) -> None:
        self.store = Store(state)
        self.clock = SimClock(time_scale)
        with self.store.transaction() as db:
            self.clock.open(db)
        self.faults = Faults.parse(faults)
        self.record_bodies = record_bodies
        self.arm_page_size = arm_page_size
        self.router = Router(all_routes())
        # Client address -> transport, filled by the server's protocol: lets a fault drop a
        # connection without answering.
        self.transports: dict[tuple[str, int], asyncio.Transport] = {}
        self.freeze_after: int | None = None  # see controls.set_freeze
        self.admitted_writes = 0

    def close(self) -> None:
        self.store.close()

    def reset(self) -> None:
        """Called inside a request's transaction: wipe everything and restart the clock."""
        for table in TABLES:
            self.store.db.execute(f"DELETE FROM {table}")  # fixed table names
        self.clock.anchor_sim = time.time()
        self.clock.anchor_real = time.monotonic()
        self.faults = Faults()
        self.freeze_after = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.respond(request)
        if response is not None:
            # The service's clock, as Azure's Date header is: a client compares the jobs' and
            # deployments' timestamps (simulated time) with it, not with its own clock.
            response.headers["date"] = formatdate(self.clock.now(), usegmt=True)
            await response(scope, receive, send)

    # --- one request --------------------------------------------------------------------------

    async def respond(self, request: Request) -> Response | None:
        path = request.url.path.rstrip("/") or "/"
        route, params, path_exists = self.router.find(request.method, path)
        if route is not None and route.plane == "control":
            return await self._run(request, route, params, log_it=False)
        await self._wait_while_frozen(request.method)
        problem = self._precheck(request, route, path, path_exists)
        if problem is not None:
            return self._log_only(request, route, problem)
        assert route is not None
        fault = await self._fault(request, route)
        if fault == "drop":
            return None
        if isinstance(fault, Reply):
            return self._log_only(request, route, fault, fault_name=str(fault.status))
        fault_name = fault if isinstance(fault, str) else None
        response = await self._run(request, route, params, log_it=True, fault=fault_name)
        if fault == "drop_after":
            self._drop(request)
            return None
        return response

    async def _wait_while_frozen(self, method: str) -> None:
        """Admit requests until `freeze_after` writes are admitted. The check and the count run
        without an await between them, so concurrent requests cannot both slip through."""
        while self.freeze_after is not None and self.admitted_writes >= self.freeze_after:
            await asyncio.sleep(0.02)
        if method not in READS:
            self.admitted_writes += 1

    def writes(self) -> int:
        row = self.store.db.execute("SELECT n FROM counters WHERE name = 'writes'").fetchone()
        return int(row[0]) if row else 0

    def _precheck(
        self, request: Request, route: Route | None, path: str, path_exists: bool
    ) -> Reply | None:
        arm = path.lower().startswith("/subscriptions/")
        if route is None:
            return _unknown_route(request.method, path, arm, path_exists)
        if route.plane == "arm":
            return _check_arm(request, route)
        if route.plane in ("blob", "serverless"):
            return None  # these handlers check their own authorization (a SAS, an endpoint key)
        return _check_data_plane(request, route)

    async def _fault(self, request: Request, route: Route) -> Reply | str | None:
        rule, outcome = self.faults.draw(route.operation)
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if outcome == "drop":
            self._drop(request)
            self._log_only(request, route, None, fault_name="drop")
            return "drop"
        if outcome is None or outcome == "drop_after":
            return outcome
        return _fault_reply(route, int(outcome), rule.retry_after_ms)

    def _drop(self, request: Request) -> None:
        client = request.scope.get("client")
        transport = self.transports.get((str(client[0]), int(client[1]))) if client else None
        if transport is not None:
            transport.abort()

    async def _run(
        self,
        request: Request,
        route: Route,
        params: dict[str, str],
        *,
        log_it: bool,
        fault: str | None = None,
    ) -> Response:
        # Multipart files stay open (spooled to disk) until the handler has read them.
        async with _request_body(request) as (body, form):
            if route.operation == "Files_Import" and route.plane == "data":
                imported = await _prefetch_import(request, body)
                if isinstance(imported, Reply):
                    return self._log_only(request, route, imported, body=body)
                form = {"imported_content": imported}
            reply = self._transact(request, route, params, body, form, log_it=log_it, fault=fault)
        return _render(reply)

    def _transact(
        self,
        request: Request,
        route: Route,
        params: dict[str, str],
        body: bytes,
        form: dict[str, Any],
        *,
        log_it: bool,
        fault: str | None,
    ) -> Reply:
        with self.store.transaction() as db:
            now = self.clock.now()
            self.settle(db, now)
            call = self._call(request, route, params, body, form, db, now)
            reply = self._handle(db, route, call)
            self.clock.persist(db)
            if log_it:
                self._log(db, request, route.operation, reply, body=body, now=now, fault=fault)
        return reply

    def _handle(self, db: sqlite3.Connection, route: Route, call: Call) -> Reply:
        db.execute("SAVEPOINT handler")
        try:
            reply = route.handler(call)
        except ApiError as error:
            db.execute("ROLLBACK TO handler")
            reply = error.reply()
        except Exception:
            log.exception("emulator handler %s failed", route.operation)
            db.execute("ROLLBACK TO handler")
            error_class = ArmError if route.plane == "arm" else ApiError
            reply = error_class(500, "internalFailure", "The emulator failed; see its log.").reply()
        db.execute("RELEASE handler")
        return reply

    def settle(self, db: sqlite3.Connection, now: float) -> None:
        """Derive everything time-dependent up to `now` (the lazy state machine)."""
        files.expire_files(db, now)
        uploads.expire_uploads(db, now)
        training.settle(db, now)
        arm_deployments.settle(db, now)

    def _call(
        self,
        request: Request,
        route: Route,
        params: dict[str, str],
        body: bytes,
        form: dict[str, Any],
        db: sqlite3.Connection,
        now: float,
    ) -> Call:
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        return Call(
            method=request.method,
            path=request.url.path.rstrip("/"),
            params=params,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            form=form,
            base_url=f"{request.url.scheme}://{host}",
            now=now,
            db=db,
            emulator=self,
            version=V1 if route.is_v1 else "",
        )

    # --- the request log ----------------------------------------------------------------------

    def _log_only(
        self,
        request: Request,
        route: Route | None,
        reply: Reply | None,
        *,
        fault_name: str | None = None,
        body: bytes = b"",
    ) -> Response:
        with self.store.transaction() as db:
            operation = route.operation if route is not None else None
            self._log(
                db, request, operation, reply, body=body, fault=fault_name, now=self.clock.now()
            )
        return _render(reply) if reply is not None else Response(status_code=500)

    def _log(
        self,
        db: sqlite3.Connection,
        request: Request,
        operation: str | None,
        reply: Reply | None,
        *,
        body: bytes,
        now: float,
        fault: str | None = None,
    ) -> None:
        request_body = response_body = None
        if self.record_bodies:
            request_body = _json_or_none(body)
            if reply is not None and not isinstance(reply.body, bytes) and reply.body is not None:
                response_body = dumps(reply.body)
        db.execute(
            "INSERT INTO requests (real_time, sim_time, method, path, query, status, operation, "
            "fault, request_body, response_body) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                time.time(),
                now,
                request.method,
                request.url.path,
                dumps(dict(request.query_params)),
                None if reply is None else reply.status,
                operation,
                fault,
                request_body,
                response_body,
            ),
        )
        _count(db, operation, request.method)
        seq = db.execute("SELECT last_insert_rowid()").fetchone()[0]
        if seq % 1000 == 0:
            db.execute("DELETE FROM requests WHERE seq <= ?", (seq - REQUEST_LOG_SIZE,))


def _count(db: sqlite3.Connection, operation: str | None, method: str) -> None:
    names = ["requests", f"operation:{operation}" if operation else None]
    names.append("writes" if method not in READS else None)
    for name in filter(None, names):
        bump(db, name)


# --- checks before a request is handled ---------------------------------------------------------


def _unknown_route(method: str, path: str, arm: bool, path_exists: bool) -> Reply:
    if arm:
        if path_exists:
            return ArmError(405, "MethodNotAllowed", f"The method {method} is not allowed.").reply()
        return ArmError(404, "NotFound", f"No ARM route for '{path}' in this emulator.").reply()
    return ApiError(404, "notFound", "Resource not found").reply()


def _check_arm(request: Request, route: Route) -> Reply | None:
    authorization = request.headers.get("authorization", "")
    if not authorization.lower().startswith("bearer "):
        return ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ).reply()
    version = request.query_params.get("api-version")
    if version is None:
        return ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ).reply()
    if version not in route.api_versions:
        return ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are "
            f"'{', '.join(route.api_versions)}'.",
        ).reply()
    return None


def _check_data_plane(request: Request, route: Route) -> Reply | None:
    has_key = bool(request.headers.get("api-key"))
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    if not has_key and not bearer:
        return ApiError(
            401,
            "unauthorized",
            "Access denied due to missing subscription key or Authorization header. Make sure to "
            "include an 'api-key' or 'Authorization: Bearer' header.",
        ).reply()
    # Azure answers a missing or unknown api-version (or a preview-only route on a stable
    # version) with 404 Resource not found. The v1 paths take none (and ignore one).
    if not route.is_v1 and request.query_params.get("api-version") not in route.api_versions:
        return ApiError(404, "notFound", "Resource not found").reply()
    return None


def _fault_reply(route: Route, status: int, retry_after_ms: int) -> Reply:
    arm = route.plane == "arm"
    codes = {
        429: ("TooManyRequests", "tooManyRequests"),
        500: ("InternalServerError", "internalFailure"),
        503: ("ServiceUnavailable", "serviceUnavailable"),
    }
    arm_code, data_code = codes[status]
    message = f"Injected fault {status} (ftops emulator)."
    error = ArmError(status, arm_code, message) if arm else ApiError(status, data_code, message)
    reply = error.reply()
    if status in (429, 503):
        reply.headers["retry-after-ms"] = str(retry_after_ms)
        # Fractional seconds: both SDKs parse them as floats, so their retries stay fast.
        reply.headers["Retry-After"] = f"{retry_after_ms / 1000:g}"
    return reply


# --- bodies -------------------------------------------------------------------------------------


@asynccontextmanager
async def _request_body(request: Request) -> AsyncIterator[tuple[bytes, dict[str, Any]]]:
    """(raw body, form fields). File parts are `FormFile`s, open until the block ends."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        yield await request.body(), {}
        return
    form: dict[str, Any] = {}
    async with request.form(max_part_size=1024 * 1024 * 1024) as parsed:
        for key, value in parsed.multi_items():
            form[key] = _form_file(value) if isinstance(value, UploadFile) else value
        yield b"", form


def _form_file(upload: UploadFile) -> FormFile:
    size = upload.size
    if size is None:
        size = upload.file.seek(0, 2)
    return FormFile(upload.filename or "file", size, upload.file)


async def _prefetch_import(request: Request, body: bytes) -> bytes | Reply:
    """Fetch an import's content outside the transaction (it may come from this emulator)."""
    try:
        url = json.loads(body or b"{}").get("content_url")
    except (ValueError, AttributeError):
        return ApiError(400, "invalidPayload", "The request body is not valid JSON.").reply()
    if not url:
        return ApiError(400, "invalidPayload", "Missing required field 'content_url'.").reply()
    try:
        return await asyncio.to_thread(files.fetch_import, str(url))
    except ApiError as error:
        return error.reply()


def _render(reply: Reply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    if isinstance(reply.body, bytes):
        return Response(reply.body, reply.status, reply.headers, media_type=reply.media_type)
    content = json.dumps(reply.body, separators=(",", ":")).encode()
    return Response(content, reply.status, reply.headers, media_type="application/json")


def _json_or_none(body: bytes) -> str | None:
    if not body:
        return None
    try:
        return dumps(json.loads(body))
    except ValueError:
        return None
