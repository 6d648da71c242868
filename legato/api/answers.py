"""How routes shape their answers, once for all of them: a page of a list, its total also in
`X-Total-Count` (clients page without parsing the body); a decision whose action may still run
(200 once over, 202 with where to follow it otherwise)."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Response

from legato.api.schemas import Page

T = TypeVar("T")


def paged(response: Response, items: list, total: int, offset: int, limit: int) -> Page:
    response.headers["X-Total-Count"] = str(total)
    return Page(items=items, total=total, offset=offset, limit=limit)


def decided(response: Response, location: str, body: T, over: bool) -> T:
    response.headers["Location"] = location
    if not over:
        response.status_code = 202
    return body
