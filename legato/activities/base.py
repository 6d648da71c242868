"""Shared plumbing: error mapping and the activity list of a group."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from legato.adapters.errors import AdapterError
from legato.inventory import Inventory

T = TypeVar("T")


def as_application_error(err: AdapterError) -> ApplicationError:
    return ApplicationError(str(err), type=err.type, non_retryable=not err.retryable)


def maps_adapter_errors(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Turn adapter errors into ApplicationErrors Temporal understands (keeps the signature)."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except AdapterError as err:
            raise as_application_error(err) from None

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
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def log(self, service_id: str, op_id: str, step: str, outcome: str, detail: str = "") -> None:
        await self.record(self.inventory.log, service_id, op_id, step, outcome, detail)


def heartbeat(detail: str) -> None:
    if activity.in_activity():
        activity.heartbeat(detail)
