"""What every TMF router shares: the TMF records, paging headers and the `fields` parameter."""

from __future__ import annotations

from fastapi import Query, Response

from legato.api.dependencies import tmf_records
from legato.api.schemas import MAX_OFFSET
from legato.tmf.render import select_fields

FIELDS = Query(None, description="comma-separated attributes to return")
OFFSET = Query(0, ge=0, le=MAX_OFFSET, description="index of the first resource to return")
LIMIT = Query(100, ge=1, le=1000, description="number of resources to return")
records = tmf_records  # for the routes that take the request itself (the catalog's)


def page(response: Response, bodies: list[dict], total: int, fields: str | None) -> list[dict]:
    """A TMF list: X-Total-Count (all that match) and X-Result-Count (in this response)."""
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Result-Count"] = str(len(bodies))
    return [select_fields(b, fields) for b in bodies]


def window(bodies: list[dict], offset: int, limit: int) -> tuple[list[dict], int]:
    return bodies[offset:offset + limit], len(bodies)
