"""What a route handler needs, named and typed in its signature (`inventory: InventoryDep`,
`caller: CallerDep`, ...), instead of each handler reaching into `request.app.state`.

What is reached over the network is handed over unconnected: `Temporal` connects and
`Backends` builds the managers' adapters at their first use, so a request refused before it needs
them (401, 403, 404, 422) is answered as before and never waits for them, nor hears 503."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from temporalio.client import Client

from legato.adapters.registry import Adapters, build_adapters
from legato.api.auth import Caller, current_caller, operator_caller
from legato.client import ServiceClient
from legato.config import Settings
from legato.federation.partners import Federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.inventory.tmf import TmfRecords
from legato.maintenance import MaintenanceGate


class Temporal:
    """Temporal, as the API reaches it: one connection per process, made at the first call."""

    def __init__(self, request: Request) -> None:
        self._state = request.app.state

    @property
    def task_queue(self) -> str:
        return self._state.settings.task_queue

    async def client(self) -> Client:
        """The connection; 503 (an HTTPException) when Temporal cannot be reached."""
        return await self._state.temporal()

    @property
    def indexed(self) -> bool:
        """Whether Legato's search attributes are registered (known once connected)."""
        return self._state.indexed

    async def services(self) -> ServiceClient:
        """The one client of the service workflows, on this connection (upgrades and moves respect
        the maintenance windows the inventory holds)."""
        client = await self.client()
        return ServiceClient(client, self.task_queue, self.indexed, windows=MaintenanceGate(self._state.inventory))


class Backends:
    """The managers' adapters (PIM, MCM, WDM, TCM), built once per process at the first call
    that asks a backend."""

    def __init__(self, request: Request) -> None:
        self._state = request.app.state

    def adapters(self) -> Adapters:
        found = getattr(self._state, "adapters", None)
        if found is None:
            found = self._state.adapters = build_adapters(self._state.settings)
        return found


def settings(request: Request) -> Settings:
    return request.app.state.settings


def inventory(request: Request) -> Inventory:
    return request.app.state.inventory


def live_continuum(request: Request) -> LiveContinuum:
    return request.app.state.live


def tmf_records(request: Request) -> TmfRecords:
    return request.app.state.tmf


def federation(request: Request) -> Federation | None:
    return request.app.state.federation


SettingsDep = Annotated[Settings, Depends(settings)]
InventoryDep = Annotated[Inventory, Depends(inventory)]
ContinuumDep = Annotated[LiveContinuum, Depends(live_continuum)]
TmfDep = Annotated[TmfRecords, Depends(tmf_records)]
FederationDep = Annotated[Federation | None, Depends(federation)]
TemporalDep = Annotated[Temporal, Depends(Temporal)]
BackendsDep = Annotated[Backends, Depends(Backends)]
CallerDep = Annotated[Caller, Depends(current_caller)]
OperatorDep = Annotated[Caller, Depends(operator_caller)]
