"""/v1/sim: the simulator's control surface, for demos and rehearsals (operator only). What a real
continuum does on its own, on demand: a release that fails its requests (so a canary's gate has
something to catch), a release whose replicas never become ready (so a progress deadline has
something to end), a host, a node, a cluster or a site that dies and comes back; and what its users do
(`/v1/sim/load`): daily curves, flash crowds, shifts between areas, time compression."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

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


class ClusterRef(Strict):
    cluster: str = Field(min_length=1)


class SiteRef(Strict):
    site: str = Field(min_length=1)


class DailyCurveBody(Strict):
    area: str = Field(min_length=1)
    amplitude: float = Field(ge=0, le=1, description="the peak is (1 + amplitude) x the declared demand, the trough "
                             "(1 - amplitude) x; the day's mean is the declared demand")
    peak_hour: float = Field(ge=0, le=24)
    clock: Literal["local", "utc"] = Field(default="local", description="local: the area's mean solar time "
                                           "(UTC + longitude / 15 h); utc: the UTC hour")


class FlashCrowdBody(Strict):
    area: str = Field(min_length=1)
    start: datetime = Field(description="sim time (see compression)")
    duration_seconds: float = Field(gt=0, description="sim seconds")
    multiplier: float = Field(gt=0)


class ShiftBody(Strict):
    from_area: str = Field(min_length=1)
    to_area: str = Field(min_length=1)
    start: datetime = Field(description="sim time (see compression)")
    duration_seconds: float = Field(ge=0, description="sim seconds over which the share moves, linearly")
    share: float = Field(ge=0, le=1, description="of the users declared in from_area; they stay moved")


class CompressionBody(Strict):
    factor: float = Field(gt=0, le=100_000, description="sim seconds per real second (1440: a day in a minute)")
    start: datetime | None = Field(default=None, description="the sim time now (default: carry on from it)")


class RequestCostBody(Strict):
    service_id: str = Field(min_length=1)
    component: str = Field(min_length=1)
    cpu_seconds: float = Field(gt=0, le=60, description="CPU-seconds one request takes (default 0.01)")


def simulator(settings: SettingsDep) -> SimContinuum:
    return SimContinuum(settings.sim_path)


SimDep = Annotated[SimContinuum, Depends(simulator)]


def epoch(at: datetime) -> float:
    """Sim time as epoch seconds; a time without a zone is UTC."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


async def act(call: Callable[..., Any], *args: Any, missing: int = 422) -> Any:
    """Run a simulator call off the event loop; its refusal is the caller's error (`missing`: the
    status for something that does not exist)."""
    try:
        return await asyncio.to_thread(call, *args)
    except InvalidRequest as err:
        raise HTTPException(missing, str(err)) from None


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
    stopped = await act(sim.fail_host, body.host, missing=404)
    return {"message": f"host {body.host} failed: powered off, {stopped} replica(s) on it stopped"}


@router.post("/fail-node")
async def fail_node(body: FailHost, _: OperatorDep, sim: SimDep) -> dict:
    stopped = await act(sim.fail_node, body.host, missing=404)
    return {"message": f"the node on host {body.host} is NotReady (the host still on), {stopped} replica(s) stopped"}


@router.post("/recover-host")
async def recover_host(body: FailHost, _: OperatorDep, sim: SimDep) -> dict:
    await act(sim.recover_host, body.host, missing=404)
    return {"message": f"host {body.host} is back: powered on, its node schedulable (empty)"}


@router.post("/fail-cluster")
async def fail_cluster(body: ClusterRef, _: OperatorDep, sim: SimDep) -> dict:
    stopped = await act(sim.fail_cluster, body.cluster, missing=404)
    return {"message": f"cluster {body.cluster} failed: its API does not answer, {stopped} replica(s) stopped"}


@router.post("/recover-cluster")
async def recover_cluster(body: ClusterRef, _: OperatorDep, sim: SimDep) -> dict:
    await act(sim.recover_cluster, body.cluster, missing=404)
    return {"message": f"cluster {body.cluster} answers again (its stopped pods are not restarted)"}


@router.post("/fail-site")
async def fail_site(body: SiteRef, _: OperatorDep, sim: SimDep) -> dict:
    stopped = await act(sim.fail_site, body.site, missing=404)
    return {"message": f"site {body.site} lost power: every host off, {stopped} replica(s) stopped"}


@router.get("/load")
async def load(_: OperatorDep, sim: SimDep) -> dict:
    """The load model: the sim time now and its compression, the curves, crowds and shifts (times
    as sim epoch seconds)."""
    return (await act(sim.load)).describe(time.time())


@router.post("/load/daily-curve")
async def daily_curve(body: DailyCurveBody, _: OperatorDep, sim: SimDep) -> dict:
    await act(sim.set_daily_curve, body.area, body.amplitude, body.peak_hour, body.clock)
    return {"message": f"users in {body.area} peak at {body.peak_hour:g}h ({body.clock}), "
                       f"{1 - body.amplitude:g}x to {1 + body.amplitude:g}x their declared demand"}


@router.post("/load/flash-crowd")
async def flash_crowd(body: FlashCrowdBody, _: OperatorDep, sim: SimDep) -> dict:
    await act(sim.add_flash_crowd, body.area, epoch(body.start), body.duration_seconds, body.multiplier)
    return {"message": f"a flash crowd in {body.area}: {body.multiplier:g}x for {body.duration_seconds:g} s "
                       f"from {body.start.isoformat()} (sim time)"}


@router.post("/load/shift")
async def shift(body: ShiftBody, _: OperatorDep, sim: SimDep) -> dict:
    await act(sim.add_user_shift, body.from_area, body.to_area, epoch(body.start), body.duration_seconds,
              body.share)
    return {"message": f"{body.share:.0%} of the users of {body.from_area} move to {body.to_area} over "
                       f"{body.duration_seconds:g} s from {body.start.isoformat()} (sim time)"}


@router.post("/load/compression")
async def compression(body: CompressionBody, _: OperatorDep, sim: SimDep) -> dict:
    await act(sim.set_compression, body.factor, epoch(body.start) if body.start else None)
    return {"message": f"sim time now runs {body.factor:g}x the real clock"}


@router.post("/load/request-cost")
async def request_cost(body: RequestCostBody, _: OperatorDep, sim: SimDep) -> dict:
    await act(sim.set_request_cost, body.service_id, body.component, body.cpu_seconds)
    return {"message": f"a request to {body.component} of {body.service_id} takes {body.cpu_seconds:g} CPU-s"}


@router.post("/load/clear")
async def clear_load(_: OperatorDep, sim: SimDep) -> dict:
    await asyncio.to_thread(sim.clear_load)
    return {"message": "no curves, flash crowds, shifts or request costs; sim time is the real clock again"}


@router.post("/clear")
async def clear(_: OperatorDep, sim: SimDep) -> dict:
    await asyncio.to_thread(sim.clear_faults)
    return {"message": "every injected fault, error rate and never-ready version cleared"}
