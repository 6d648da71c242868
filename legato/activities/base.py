"""Shared plumbing: error mapping and the activity list of a group."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from legato.adapters.errors import AdapterError
from legato.inventory import Inventory
from legato.telemetry import adapter_span

T = TypeVar("T")


def as_application_error(err: AdapterError) -> ApplicationError:
    """Typed, but not flagged non-retryable here: whether to retry is the caller's retry policy's call.
    A forward step gives up on PermanentFault (and rolls back); a compensation retries it, because
    leaking a host is worse than waiting for a backend (see workflows/options.py). What refused
    (`host:<id>`, `cluster:<id>`, `link:<a>|<b>`) travels as the error's details: a deployment
    refused for capacity places again without it."""
    return ApplicationError(str(err), *err.resources, type=err.type)


HEARTBEAT_EVERY = 1.0
MAX_REASON = 300  # characters of a driver's message kept in a failure


async def _keep_heartbeating() -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        heartbeat("working")


@asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat while a long activity waits on something that is not an adapter call (a
    service's workflow, a listener): a dead worker is then noticed within the heartbeat timeout."""
    beat = asyncio.create_task(_keep_heartbeating())
    try:
        yield
    finally:
        beat.cancel()


def maps_adapter_errors(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Turn adapter errors into ApplicationErrors Temporal understands (keeps the signature), and
    heartbeat while the backend works, so a dead worker is noticed within the heartbeat timeout
    instead of the whole start-to-close timeout."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        beat = asyncio.create_task(_keep_heartbeating()) if activity.in_activity() else None
        request = args[-1] if args else None
        try:
            name = activity.info().activity_type if activity.in_activity() else fn.__name__
            with adapter_span(name, request) as span, inventory_errors():
                try:
                    return await fn(*args, **kwargs)
                except AdapterError as err:
                    span.set_attribute("legato.error", err.type)
                    raise as_application_error(err) from None
        finally:
            if beat is not None:
                beat.cancel()

    return wrapper


class ActivityGroup:
    def __init__(self, inventory: Inventory):
        self.inventory = inventory

    def activities(self) -> list:
        return [
            getattr(self, name)
            for name, member in inspect.getmembers(type(self))
            if hasattr(member, "__temporal_activity_definition")
        ]

    async def record(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """Inventory writes run off the event loop (SQLite and PostgreSQL drivers block)."""
        with inventory_errors():
            return await asyncio.to_thread(fn, *args, **kwargs)

    async def mirror(self, req, detail: str, write: Callable[..., object] | None = None, *args, **kwargs) -> None:
        """The backend's answer into the inventory and the step into the operations log, as one
        transaction and one hop off the event loop (two of each made many-component steps slow)."""

        def run() -> None:
            with self.inventory.session():
                if write is not None:
                    write(*args, **kwargs)
                self.inventory.log(req.service_id, req.op_id, req.step, "done", detail)

        with inventory_errors():
            await asyncio.to_thread(run)


@contextmanager
def inventory_errors() -> Iterator[None]:
    """The database down or its connections cut: a short, retryable failure. The driver's own text
    (the statement, every parameter) can be megabytes, and Temporal then shows only "Failure
    exceeds size limit" in the history instead of why the activity is being retried."""
    try:
        yield
    except DBAPIError as err:
        first = str(err.orig or err).strip().splitlines()[0][:MAX_REASON] if str(err.orig or err).strip() else ""
        raise ApplicationError(f"inventory unavailable ({type(err.orig or err).__name__}): {first}",
                               type="InventoryUnavailable") from None


def heartbeat(detail: str) -> None:
    if activity.in_activity():
        activity.heartbeat(detail)
