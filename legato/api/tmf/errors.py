"""TMF error responses: `{code, reason, message, status}` (TMF630 Error), the field named in `message`."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

PREFIX = "/tmf-api/"
CODES = {400: "invalidRequest", 401: "unauthorized", 403: "forbidden", 404: "notFound", 405: "methodNotAllowed",
         409: "conflict", 500: "internalError", 503: "unavailable"}


def is_tmf(request: Request) -> bool:
    return request.url.path.startswith(PREFIX)


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {"code": CODES.get(status, str(status)), "reason": reason, "message": message, "status": str(status),
            "@type": "Error"}
    return JSONResponse(status_code=status, content=body, headers=headers)


def tmf_http_error(exc: HTTPException) -> JSONResponse:
    return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


def field_path(loc) -> str:
    """`serviceOrderItem[0].service.id` from pydantic's ("body", "serviceOrderItem", 0, "service", "id")."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def tmf_validation_error(exc: RequestValidationError) -> JSONResponse:
    """400 (TMF uses 400 for a malformed request), each offending field named."""
    fields = "; ".join(f"{field_path(e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
    return error(400, fields)


def invalid(field: str, message: str) -> HTTPException:
    return HTTPException(400, f"{field}: {message}")


def not_found(kind: str, resource_id: str) -> HTTPException:
    return HTTPException(404, f"{kind} '{resource_id}' not found")
