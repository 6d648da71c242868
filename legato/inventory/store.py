"""What every part of the inventory stands on: the database engine and one transaction per thread.

Each owner's repository (resources.py, reservations.py, workloads.py, proposals.py, federation.py)
is a `Store`; the `Inventory` facade (facade.py) is all of them over one engine, so a write that
spans owners (a cluster deleted with what ran on it) still commits as one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from legato.inventory.db import open_engine

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
T = TypeVar("T")


class Store:
    def __init__(self, url_or_engine: str | Engine, public_url: str = DEFAULT_PUBLIC_URL):
        self.engine = open_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        self.public_url = public_url.rstrip("/")  # TMF hrefs in the events written with a change
        self._local = threading.local()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction; nested uses in one thread join the outermost, so an activity's several
        writes commit together (one transaction instead of one each)."""
        outer = getattr(self._local, "session", None)
        if outer is not None:
            yield outer
            return
        with Session(self.engine, expire_on_commit=False) as session:
            self._local.session = session
            try:
                yield session
                session.commit()
            finally:
                self._local.session = None


def updated(s: Session, table: type[T], key: object, fields: dict) -> T | None:
    """The row of `table` at `key` with `fields` set (in `s`, the caller's transaction); None if absent."""
    row = s.get(table, key)
    if row is None:
        return None
    for name, value in fields.items():
        setattr(row, name, value)
    s.add(row)
    return row
