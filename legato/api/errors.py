"""How the API answers what went wrong: a client reads `message` (and `detail`) on every error, and
hears "retry" (503 with Retry-After, the connection kept) for an outage it can outlast, whether of
Temporal or of the inventory's database, never a 500 that makes it give up on a safe retry.

When Temporal cannot be reached (restarting, overloaded), the caller must hear "retry" (503),
never a refusal (409): a refusal makes a client drop a request that a retry would have carried out.
Every write carries an id (service id, request id) that makes its retry safe. What counts as
unreachable is the service client's to say (`legato.client.unreachable`)."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from legato.api.service_layer import outcomes
from legato.api.tmf import errors as tmf_errors
from legato.client import unreachable

log = logging.getLogger("legato.api")

# A request becomes a Temporal payload (a workflow's input, carried again at each continue-as-new):
# Temporal refuses blobs over 2 MiB and gRPC messages over 4 MiB, so a retry could never succeed.
MAX_BODY_BYTES = 1024 * 1024

RETRY_AFTER_SECONDS = 5
ENGINE_DOWN = "the orchestration engine is unreachable; retry later (the same request is safe to repeat)"
INVENTORY_DOWN = "the inventory database is unreachable; retry later (the same request is safe to repeat)"


# How each refusal of the service layer is answered (Invalid: as request validation answers).
REFUSAL_STATUS: dict[type[outcomes.Refusal], int] = {
    outcomes.NotFound: 404, outcomes.Forbidden: 403, outcomes.Conflict: 409, outcomes.Unprocessable: 422,
    outcomes.Invalid: 422, outcomes.BadField: 400, outcomes.QuotaExceeded: 429, outcomes.StillRunning: 504,
}


def status_of(refusal: outcomes.Refusal) -> int:
    return next(status for kind, status in REFUSAL_STATUS.items() if isinstance(refusal, kind))


def body(status: int, message: str, detail=None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"message": message, "detail": message if detail is None
                                                     else detail}, headers=headers)


def retry_later(request: Request, message: str) -> JSONResponse:
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if tmf_errors.is_tmf(request):
        return tmf_errors.error(503, message, headers=retry)
    return body(503, message, headers=retry)


def json_error_text(raw: bytes, position: int, why: str) -> str:
    """Where malformed JSON breaks, as an editor shows it (line and column), not a bare offset."""
    text = raw.decode("utf-8", errors="replace")
    before = text[:position]
    line, column = before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1
    return f"body: invalid JSON at line {line}, column {column}: {why}"


class BodyLimit:
    """Refuses a request body over MAX_BODY_BYTES with 413 before anything reads or starts it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return await _too_large(int(length), scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY_BYTES:
                raise _TooLarge(seen)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge as big:
            await _too_large(big.size, scope, receive, send)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _too_large(size: int, scope, receive, send) -> None:
    message = (f"request body of {size} bytes is over the limit of {MAX_BODY_BYTES} bytes: it could never fit the "
               "orchestration engine's payloads (a retry would not help); keep large values out of the spec")
    await body(413, message)(scope, receive, send)


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if tmf_errors.is_tmf(request):
            return tmf_errors.tmf_http_error(exc)
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return body(exc.status_code, message, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if tmf_errors.is_tmf(request):
            return tmf_errors.tmf_validation_error(exc)
        details = [
            {"loc": list(e.get("loc", [])), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        broken = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if broken is not None:
            loc = broken.get("loc", [])
            position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
            why = (broken.get("ctx") or {}).get("error", "not JSON")
            return body(422, json_error_text(await request.body(), position, why), details)
        fields = "; ".join(".".join(str(p) for p in d["loc"][1:]) + ": " + d["msg"] for d in details)
        return body(422, fields, details)

    @app.exception_handler(outcomes.Refusal)
    async def _refused(request: Request, exc: outcomes.Refusal) -> JSONResponse:
        if isinstance(exc, outcomes.Invalid):
            return await _invalid(request, RequestValidationError(exc.errors))
        return await _http_error(request, StarletteHTTPException(status_of(exc), exc.message))

    @app.exception_handler(RPCError)
    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def _engine_error(request: Request, exc: Exception) -> JSONResponse:
        if not unreachable(exc):
            return await _unexpected(request, exc)
        log.warning("Temporal unreachable: %s", exc)
        return retry_later(request, ENGINE_DOWN)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _inventory_down(request: Request, exc: DBAPIError) -> JSONResponse:
        """Down, restarting, or its connections cut (a postmaster killed): the worker's activities
        retry meanwhile and nothing is lost, so the client is told to retry too."""
        if not isinstance(exc, OperationalError) and not exc.connection_invalidated:
            return await _unexpected(request, exc)
        log.warning("inventory unreachable: %s", str(exc.orig or exc).splitlines()[0][:300])
        return retry_later(request, INVENTORY_DOWN)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        if tmf_errors.is_tmf(request):
            return tmf_errors.error(500, "internal error; see the Legato API log")
        return body(500, "internal error; see the Legato API log")
