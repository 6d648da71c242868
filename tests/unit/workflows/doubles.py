"""Test doubles of Legato's activities, for workflow tests on a real Temporal dev server.

Every activity of every group the worker's catalog builds gets a double: a plain async function
registered under the real activity's name (taken from its definition, so a rename is followed),
with the real method's argument and result types (so the data converter hands it the typed
request, and the workflow gets a typed result). Each call is recorded, then answered by the
double's behaviour: a small fake of the backends by default (`ANSWERS`), or what a test sets with
`Doubles.on`. An activity with no behaviour fails the workflow's call loudly (UnexpectedCall).
"""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

import legato.activities.catalog  # noqa: F401 - imports every activity group the worker builds
from legato.activities.base import ActivityGroup
from legato.activities.contracts import SiteChoice
from legato.activities.inventory import InventoryActivities
from legato.activities.maintenance import MaintenanceActivities, WindowCheck
from legato.activities.mcm import MCMActivities
from legato.activities.pim import PIMActivities
from legato.activities.placement import PlacementActivities
from legato.activities.schedules import ScheduleActivities
from legato.activities.tcm import TCMActivities
from legato.activities.wdm import WDMActivities
from legato.model import Cluster, Host, SitePlan
from legato.model.clusters import DrainResult
from legato.model.connectivity import Connection
from legato.model.workloads import WorkloadMetrics, WorkloadStatus
from legato.workflows.saga import activity_name

Behaviour = Callable[..., Any]  # gets the activity's argument(s); returns its result (or an awaitable), or raises


def every_activity() -> list[Callable]:
    """Every activity definition of the groups the worker registers (legato.activities.catalog)."""
    found = {
        activity_name(member): member
        for group in ActivityGroup.__subclasses__()
        for _, member in inspect.getmembers(group)
        if hasattr(member, "__temporal_activity_definition")
    }
    return [found[name] for name in sorted(found)]


def double(real: Callable, behaviour: Behaviour) -> Callable:
    """A plain async function standing in for the activity `real` (an activity method of a group):
    registered under its name, typed like it, answering with `behaviour`."""
    hints = typing.get_type_hints(real)
    params = [p.replace(annotation=hints.get(p.name, p.annotation))
              for p in list(inspect.signature(real).parameters.values())[1:]]  # without self
    returns = hints.get("return", inspect.Signature.empty)

    async def stand_in(*args):
        result = behaviour(*args)
        return await result if inspect.isawaitable(result) else result

    stand_in.__name__ = stand_in.__qualname__ = f"double_of_{real.__name__}"
    stand_in.__signature__ = inspect.Signature(params, return_annotation=returns)
    stand_in.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    return activity.defn(name=activity_name(real))(stand_in)


@dataclass
class Call:
    name: str  # the activity's registered name
    arg: Any  # its (first) argument, as the double received it: typed


class Doubles:
    """A double for every activity, recording each call in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.workloads: dict[str, WorkloadStatus] = {}  # what the fake WDM runs, by workload id
        self._behaviours: dict[str, Behaviour] = {name: behave(self) for name, behave in ANSWERS.items()}

    def on(self, real: Callable, behaviour: Behaviour) -> Doubles:
        """From now on, `real`'s double answers with `behaviour`."""
        self._behaviours[activity_name(real)] = behaviour
        return self

    def behaviour(self, real: Callable) -> Behaviour:
        """How `real`'s double answers now (to wrap it)."""
        return self._behaviours.get(activity_name(real), unexpected(activity_name(real)))

    def activities(self) -> list[Callable]:
        return [double(real, self._recording(activity_name(real))) for real in every_activity()]

    def _recording(self, name: str) -> Behaviour:
        async def answer(*args):
            self.calls.append(Call(name, args[0] if args else None))
            result = self._behaviours.get(name, unexpected(name))(*args)  # looked up now: tests may change it
            return await result if inspect.isawaitable(result) else result

        return answer

    def names(self, *reals: Callable) -> list[str]:
        """The activities called, in order (only those of `reals`, if given)."""
        only = {activity_name(r) for r in reals}
        return [c.name for c in self.calls if not only or c.name in only]

    def args(self, real: Callable) -> list:
        """What each call of `real` was asked, in order."""
        return [c.arg for c in self.calls if c.name == activity_name(real)]

    def count(self, real: Callable) -> int:
        return len(self.args(real))


# --- behaviours ------------------------------------------------------------------------------------

def unexpected(name: str) -> Behaviour:
    def refuse(*_):
        raise ApplicationError(f"the test gave no behaviour to {name}", type="UnexpectedCall", non_retryable=True)

    return refuse


def answer(value: Any) -> Behaviour:
    return lambda *_: value


def fail(kind: str, message: str = "refused by a test double", *details: str, times: int | None = None,
         then: Behaviour | None = None, non_retryable: bool = False) -> Behaviour:
    """Raise ApplicationError(`message`, *details, type=`kind`) — the first `times` calls only,
    answering with `then` afterwards, if given. Whether the caller retries is its retry policy's
    call, unless the error says `non_retryable` (as the real activity's may)."""
    left = [times]

    def behave(*args):
        if left[0] is None or left[0] > 0:
            if left[0] is not None:
                left[0] -= 1
            raise ApplicationError(message, *details, type=kind, non_retryable=non_retryable)
        return then(*args) if then is not None else None

    return behave


def gated(gate: asyncio.Event, then: Behaviour, started: asyncio.Event | None = None) -> Behaviour:
    """Answer with `then` once `gate` is set (`started` is set when the call arrives)."""

    async def behave(*args):
        if started is not None:
            started.set()
        await gate.wait()
        result = then(*args)
        return await result if inspect.isawaitable(result) else result

    return behave


def nothing(*_) -> None:
    return None


# --- the default fake backends -----------------------------------------------------------------------

def _hosts(req) -> list[Host]:
    return [Host(id=h, site=req.site, cpu=8, memory_mb=16384, state="allocated", service_id=req.service_id)
            for h in req.host_ids]


def _workload(doubles: Doubles, workload_id: str, **changes) -> WorkloadStatus:
    status = doubles.workloads[workload_id].model_copy(update=changes)
    doubles.workloads[workload_id] = status
    return status


def _deployed(doubles: Doubles) -> Behaviour:
    def deploy(req) -> WorkloadStatus:
        w = req.workload
        status = WorkloadStatus(id=w.id, cluster=req.cluster_id, component=w.component, service_id=req.service_id,
                                version=w.version, replicas=w.replicas, ready_replicas=w.replicas,
                                endpoint=f"{w.id}.{req.cluster_id}.test:80", serving={w.version: w.replicas},
                                updated_replicas=w.replicas)
        doubles.workloads[w.id] = status
        return status

    return deploy


def _ready(doubles: Doubles) -> Behaviour:
    def ready(req) -> WorkloadStatus:
        status = doubles.workloads[req.workload_id]
        return status.model_copy(update={"ready_replicas": status.replicas, "lowest_serving": status.replicas})

    return ready


def _removed(doubles: Doubles) -> Behaviour:
    def remove(req) -> None:
        doubles.workloads.pop(req.workload_id, None)

    return remove


def _scaled(doubles: Doubles) -> Behaviour:
    return lambda req: _workload(doubles, req.workload_id, replicas=req.replicas, ready_replicas=req.replicas)


def _upgraded(doubles: Doubles) -> Behaviour:
    return lambda req: _workload(doubles, req.workload_id, version=req.version)


def _healthy(doubles: Doubles) -> Behaviour:
    return lambda req: WorkloadMetrics(id=req.workload_id, version=doubles.workloads[req.workload_id].version,
                                       error_rate=0.0, requests=100)


def _room(_: Doubles) -> Behaviour:
    """Room on the component's own cluster: one node takes the extra replicas."""
    return lambda req: SiteChoice(plan=SitePlan(site=req.site, components=[req.component], cluster=req.cluster_id,
                                                action="reuse", nodes={req.component: {"node-1": req.extra_replicas}}),
                                  reason="room on the cluster")


def _fixed(behaviour: Behaviour) -> Callable[[Doubles], Behaviour]:
    return lambda _: behaviour


ANSWERS: dict[str, Callable[[Doubles], Behaviour]] = {
    activity_name(real): make for real, make in [
        (InventoryActivities.record_service, _fixed(nothing)),
        (InventoryActivities.update_service, _fixed(nothing)),
        (InventoryActivities.record_operation, _fixed(nothing)),
        (InventoryActivities.record_component, _fixed(nothing)),
        (InventoryActivities.held_hosts, _fixed(lambda req: sorted(req.allocations))),
        (InventoryActivities.join_cluster, _fixed(nothing)),
        (InventoryActivities.leave_cluster, _fixed(nothing)),
        (PlacementActivities.release, _fixed(answer(0))),
        (PlacementActivities.plan_growth, _room),
        (PlacementActivities.pick_hosts, _fixed(lambda req: [f"{req.site}-free-{i}" for i in range(req.count)])),
        (PIMActivities.allocate_hosts, _fixed(_hosts)),
        (PIMActivities.release_hosts, _fixed(lambda req: list(req.host_ids))),
        (PIMActivities.transfer_hosts, _fixed(lambda req: list(req.host_ids))),
        (MCMActivities.create_cluster, _fixed(lambda req: Cluster(id=req.cluster_id, site=req.site, hosts=req.host_ids,
                                                                  shared=False, service_id=req.service_id))),
        (MCMActivities.add_nodes, _fixed(lambda req: Cluster(id=req.cluster_id, hosts=req.host_ids))),
        (MCMActivities.remove_nodes, _fixed(lambda req: Cluster(id=req.cluster_id))),
        (MCMActivities.drain_nodes, _fixed(lambda req: DrainResult(draining=list(req.host_ids)))),
        (MCMActivities.wait_drained, _fixed(answer([]))),
        (MCMActivities.delete_cluster, _fixed(nothing)),
        (WDMActivities.deploy_workload, _deployed),
        (WDMActivities.wait_ready, _ready),
        (WDMActivities.remove_workload, _removed),
        (WDMActivities.scale_workload, _scaled),
        (WDMActivities.upgrade_workload, _upgraded),
        (WDMActivities.workload_metrics, _healthy),
        (WDMActivities.record_placements, _fixed(answer(0))),
        (WDMActivities.serving_history, _fixed(nothing)),
        (TCMActivities.connect, _fixed(lambda req: Connection(id=req.link.id, service_id=req.service_id, kind="link",
                                                              latency_ms=5))),
        (TCMActivities.set_user_qos, _fixed(lambda req: Connection(id=req.qos.id, service_id=req.service_id,
                                                                   kind="qos", latency_ms=5))),
        (TCMActivities.disconnect, _fixed(nothing)),
        (ScheduleActivities.remove_all, _fixed(answer(0))),  # the service had no schedules
        (MaintenanceActivities.window, _fixed(answer(WindowCheck()))),  # a window that opened is open
    ]
}


# --- running workflows against the doubles ---------------------------------------------------------

def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:10]}"


@asynccontextmanager
async def worker(client: Client, doubles: Doubles, *workflows: type):
    """A worker on a task queue of its own, running the real `workflows` on the doubles; yields the queue."""
    task_queue = unique("unit")
    async with Worker(client, task_queue=task_queue, workflows=list(workflows), activities=doubles.activities()):
        yield task_queue


async def eventually(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.05):
    """Until `check()` (sync or async) returns something truthy; returns it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        result = await result if inspect.isawaitable(result) else result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true after {timeout:g}s: {check}")
        await asyncio.sleep(every)
