"""/v1/sim: the simulator's control surface, for demos and rehearsals (operator only). What a real
continuum does on its own, on demand: a release that fails its requests (so a canary's gate has
something to catch), a release whose replicas never become ready (so a progress deadline has
something to end), a host that dies."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import Field

from legato.adapters.errors import InvalidRequest
from legato.api.dependencies import OperatorDep, SettingsDep
from legato.model.service import Strict
from legato.simulator import SimContinuum

router = APIRouter(prefix="/v1/sim", tags=["simulator"])


class ErrorRate(Strict):
    version: str = Field(min_length=1)
    rate: float = Field(ge=0, le=1, description="share of requests failing on replicas of this version")


class NeverReady(Strict):
    version: str = Field(min_length=1)
    never: bool = Field(default=True, description="false: its replicas become ready again (from now on)")


class FailHost(Strict):
    host: str = Field(min_length=1)


def simulator(settings: SettingsDep) -> SimContinuum:
    return SimContinuum(settings.sim_path)


SimDep = Annotated[SimContinuum, Depends(simulator)]


@router.post("/error-rate")
async def error_rate(body: ErrorRate, _: OperatorDep, sim: SimDep) -> dict:
    await asyncio.to_thread(sim.set_error_rate, body.version, body.rate)
    return {"message": f"replicas of version {body.version} now fail {body.rate:.0%} of their requests"}


@router.post("/never-ready")
async def never_ready(body: NeverReady, _: OperatorDep, sim: SimDep) -> dict:
    await asyncio.to_thread(sim.set_never_ready, body.version, body.never)
    state = "never become ready" if body.never else "become ready as usual"
    return {"message": f"replicas of version {body.version} started from now on {state}"}


@router.post("/fail-host")
async def fail_host(body: FailHost, _: OperatorDep, sim: SimDep) -> dict:
    try:
        stopped = await asyncio.to_thread(sim.fail_host, body.host)
    except InvalidRequest as err:
        raise HTTPException(404, str(err)) from None
    return {"message": f"host {body.host} failed: powered off, {stopped} replica(s) on it stopped"}


@router.post("/clear")
async def clear(_: OperatorDep, sim: SimDep) -> dict:
    await asyncio.to_thread(sim.clear_faults)
    return {"message": "every injected fault, error rate and never-ready version cleared"}
