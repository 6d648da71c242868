"""One page of a table and its total, as every list route of the API answers them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, func, select


def page(s: Session, table, order: Sequence, offset: int, limit: int, options: Sequence = (),
         **equal) -> tuple[list, int]:
    """Rows `offset`..`offset + limit` in `order`, and how many there are in all; `equal` filters
    on columns by name (a None value: no filter); `options` are loader options (e.g. deferred columns)."""
    query, count = select(table).options(*options), select(func.count()).select_from(table)
    for name, value in equal.items():
        if value is not None:
            column = getattr(table, name)
            query, count = query.where(column == value), count.where(column == value)
    return list(s.exec(query.order_by(*order).offset(offset).limit(limit)).all()), s.exec(count).one()
