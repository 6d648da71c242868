"""SQLite as the adapters' own durable state uses it (the simulator's store, the PIM host ledger)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """One transaction on a connection opened with `isolation_level=None`. IMMEDIATE takes the
    write lock up front, so a check and the write it decides are atomic across processes."""
    db.execute(f"BEGIN {mode}")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
