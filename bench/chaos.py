"""Chaos: many deployments and day-2 operations at once while the worker is SIGKILLed and restarted at
random, the Temporal dev server is stopped and restarted on its SQLite file, and the simulator injects
transient and permanent faults. Then: quiescence, and an audit of what is left.

    .venv/bin/python bench/chaos.py [--services 200] [--concurrency 20] [--seed 7]

Targets: 100% of operations terminal, 0 services whose inventory disagrees with the backends, 0 leaked
hosts/clusters/workloads/links, 0 duplicate allocations, and every failed service and operation traced
to an injected fault or a real lack of capacity: none to a capacity race (a backend refusing what
placement had chosen) and none unexplained."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from legato.devserver import DevServer, free_port  # noqa: E402
from legato.model.service import scoped_id  # noqa: E402
from legato.simulator import KINDS  # noqa: E402
from tests.specs import example  # noqa: E402
from tests.stack import Stack, running_stack  # noqa: E402

SPECS = ("web-shop", "video-analytics", "5g-core-app")
TERMINAL_SERVICE = {"active", "failed", "terminated"}
TERMINAL_OPERATION = {"succeeded", "failed", "refused", "rolled-back"}


@dataclass
class ChaosReport:
    services: int
    seconds: float
    worker_kills: int
    server_restarts: int
    service_states: Counter = field(default_factory=Counter)
    operation_states: Counter = field(default_factory=Counter)
    not_terminal: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    duplicates: int = 0
    failure_causes: Counter = field(default_factory=Counter)
    unexplained: list[str] = field(default_factory=list)  # failures of no accepted cause: "<id>: <error>"

    def lines(self) -> list[str]:
        return [
            f"services: {self.services} in {self.seconds:.0f}s, worker SIGKILLs {self.worker_kills}, "
            f"Temporal server restarts {self.server_restarts}, cores {os.cpu_count()}",
            f"services by state: {dict(sorted(self.service_states.items()))}",
            f"day-2 operations by state: {dict(sorted(self.operation_states.items()))}",
            f"not terminal: {len(self.not_terminal)} {self.not_terminal[:5]}",
            f"inventory/backend disagreements: {len(self.disagreements)} {self.disagreements[:5]}",
            f"leaked resources: {len(self.leaks)} {self.leaks[:5]}",
            f"duplicate allocations: {self.duplicates}",
            f"failures by cause: {dict(sorted(self.failure_causes.items()))}",
            f"failures from a capacity race or unexplained: {len(self.unexplained)} {self.unexplained[:5]}",
        ]

    @property
    def clean(self) -> bool:
        return not (self.not_terminal or self.disagreements or self.leaks or self.duplicates or self.unexplained)


def failure_cause(error: str) -> str:
    """Why a service or an operation failed, from its recorded error (the innermost cause's type and
    message): an injected fault, a real lack of capacity (placement found no room), a capacity race
    (a backend refused what placement had chosen: what reservations exist to prevent), or other."""
    if "injected" in error:
        return "injected fault"
    if "placement infeasible" in error or "no site can take" in error or "cannot scale" in error or (
            "no room to roll out" in error):
        return "lack of capacity"
    if "CapacityExhausted" in error:
        return "capacity race"
    return "other"


async def _retrying(call, attempts: int = 120):
    """HTTP through outages: 5xx and connection errors are retried (each call is idempotent:
    fixed service ids, request ids on operations)."""
    for _ in range(attempts):
        try:
            resp = await call()
            if resp.status_code < 500:
                return resp
        except httpx.HTTPError:
            pass
        await asyncio.sleep(1.0)
    raise RuntimeError("the API never answered")


async def _state(client: httpx.AsyncClient, service_id: str) -> str | None:
    resp = await _retrying(lambda: client.get(f"/v1/services/{service_id}"))
    return resp.json()["state"] if resp.status_code == 200 else None


async def _until(client: httpx.AsyncClient, service_id: str, states: set[str], timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = await _state(client, service_id)
        if state in states:
            break
        await asyncio.sleep(0.5)
    return state


def _day2(i: int, spec: dict) -> tuple[str, dict]:
    comp = spec["components"][i % len(spec["components"])]["name"]
    kind = ("scale", "upgrade", "move")[i % 3]
    body = {"scale": {"replicas": 2}, "upgrade": {"version": f"chaos-{i}"},
            "move": {"placement": {"avoid_sites": []}}}[kind]
    if kind == "move":  # somewhere else its rules allow: the current site is excluded by the move itself
        return f"components/{comp}/move", {"placement": {"tiers": ["cloud", "regional", "edge", "far-edge"]}}
    return f"components/{comp}/{kind}", body


async def _one_service(stack: Stack, i: int, rng: random.Random) -> None:
    spec = {**example(SPECS[i % len(SPECS)]), "id": f"chaos-{i}"}
    service_id = scoped_id("alpha", spec["id"])  # the tenant's own id for the one it chose
    async with stack.http() as client:
        await _retrying(lambda: client.post("/v1/services", json=spec))  # 202, or 409 when a retry raced
        state = await _until(client, service_id, {"active", "failed"}, timeout=600)
        if state != "active":
            return
        path, body = _day2(i, spec)
        await _retrying(lambda: client.post(f"/v1/services/{service_id}/{path}",
                                            json={**body, "request_id": f"op-{i}"}, timeout=600))
        if rng.random() < 0.5:
            await _retrying(lambda: client.delete(f"/v1/services/{service_id}"))
            await _until(client, service_id, {"terminated", "failed"}, timeout=600)


async def _chaos_monkey(stack: Stack, server: DevServer, stop: asyncio.Event, report: ChaosReport,
                        rng: random.Random, kill_every: tuple[float, float], restarts_at: list[float]) -> None:
    start = time.monotonic()
    pending = sorted(restarts_at)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=rng.uniform(*kill_every))
            return
        except TimeoutError:
            pass
        worker = stack.worker_procs[-1]
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait)
        report.worker_kills += 1
        if pending and time.monotonic() - start >= pending[0]:
            pending.pop(0)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(2)
            await asyncio.to_thread(server.start)
            report.server_restarts += 1
        stack.start_worker_process()


async def _quiescent(stack: Stack, timeout: float) -> None:
    """Everything settled: services in a terminal or steady state and no operation running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows, _ = stack.inventory.services(None, 0, 1_000_000)
        running = [o for r in rows for o in stack.inventory.service_operations(r.id) if o.state == "running"]
        if all(r.state in TERMINAL_SERVICE for r in rows) and not running:
            return
        await asyncio.sleep(1)


async def audit(stack: Stack, report: ChaosReport) -> None:
    inv, sim = stack.inventory, stack.sim
    rows, _ = inv.services(None, 0, 1_000_000)
    active = {r.id for r in rows if r.state == "active"}
    report.service_states = Counter(r.state for r in rows)
    report.not_terminal = [r.id for r in rows if r.state not in TERMINAL_SERVICE]
    workloads = await stack.adapters.wdm.list_workloads()
    connections = await stack.adapters.tcm.list_connections()
    hosts = await stack.adapters.pim.list_hosts()
    for r in rows:
        ops = [o for o in inv.service_operations(r.id) if o.kind not in ("deploy", "terminate")]  # day-2 only
        failures = [(r.id, r.error or "")] if r.state == "failed" else []
        failures += [(f"{r.id}/{o.request_id}", o.detail) for o in ops if o.state == "failed"]
        for what, error in failures:
            cause = failure_cause(error)
            report.failure_causes[cause] += 1
            if cause in ("capacity race", "other"):
                report.unexplained.append(f"{what}: {error[:160]}")
        report.operation_states.update(o.state for o in ops)
        report.not_terminal += [f"{r.id}/{o.request_id}" for o in ops if o.state not in TERMINAL_OPERATION]
        recorded = {(c.cluster, c.workload_id, c.replicas, c.version) for c in inv.components(r.id)}
        actual = {(w.cluster, w.id, w.replicas, w.version) for w in workloads if w.service_id == r.id}
        inv_hosts = {h.id for h in inv.hosts(0, 1_000_000)[0] if h.service_id == r.id}
        sim_hosts = {h.id for h in hosts if h.service_id == r.id}
        inv_conns = {c.id for c in inv.connections(r.id)}
        sim_conns = {c.id for c in connections if c.service_id == r.id}
        differs = [f"{what}: inventory-only {sorted(map(str, a - b))} backend-only {sorted(map(str, b - a))}"
                   for what, a, b in (("workloads", recorded, actual), ("hosts", inv_hosts, sim_hosts),
                                      ("connections", inv_conns, sim_conns)) if a != b]
        if differs:
            report.disagreements.append(f"{r.id} ({r.state}) " + "; ".join(differs))
    for w in workloads:
        if w.service_id not in active:
            report.leaks.append(f"workload {w.id} of {w.service_id}")
    for c in connections:
        if c.service_id not in active:
            report.leaks.append(f"connection {c.id} of {c.service_id}")
    for h in hosts:
        if h.state == "allocated" and h.service_id and h.service_id not in active:
            report.leaks.append(f"host {h.id} of {h.service_id}")
    for c in await stack.adapters.mcm.list_clusters():
        if c.service_id and c.service_id not in active:
            report.leaks.append(f"cluster {c.id} of {c.service_id}")
    report.duplicates = sim.duplicate_allocations()


async def run_chaos(root: Path, services: int = 200, concurrency: int = 20, seed: int = 7,
                    kill_every: tuple[float, float] = (3.0, 8.0), server_restarts: int = 2,
                    transient_rate: float = 0.10, permanent_rate: float = 0.05,
                    on_audit: Callable[[ChaosReport], None] | None = None) -> ChaosReport:
    rng = random.Random(seed)
    server = DevServer(root / "temporal.db", port=free_port(), ui_port=None, log_file=root / "temporal.log")
    server.start()
    started = time.monotonic()
    report = ChaosReport(services=services, seconds=0, worker_kills=0, server_restarts=0)
    try:
        async with running_stack(root / "legato", server.address, worker="process") as stack:
            for kind in sorted(KINDS):
                stack.sim.set_fault(kind, transient_rate=transient_rate, permanent_rate=permanent_rate)
            stop = asyncio.Event()
            gate = asyncio.Semaphore(concurrency)

            async def limited(i: int) -> None:
                async with gate:
                    await _one_service(stack, i, random.Random(seed * 1000 + i))

            expected = services / concurrency * 6  # rough run time, to spread the server restarts over it
            restarts = [expected * (k + 1) / (server_restarts + 1) for k in range(server_restarts)]
            monkey = asyncio.create_task(_chaos_monkey(stack, server, stop, report, rng, kill_every, restarts))
            await asyncio.gather(*(limited(i) for i in range(services)))
            stop.set()
            await monkey
            stack.sim.clear_faults()
            await _quiescent(stack, timeout=600)
            await audit(stack, report)
            report.seconds = time.monotonic() - started
            if on_audit is not None:  # the figures, before the teardown
                on_audit(report)
    finally:
        server.stop()
    report.seconds = time.monotonic() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="legato-chaos-") as root:
        report = asyncio.run(run_chaos(Path(root), args.services, args.concurrency, args.seed, on_audit=_print))
    print(f"torn down after {report.seconds:.0f} s")
    sys.exit(0 if report.clean else 1)


def _print(report: ChaosReport) -> None:
    for line in report.lines():
        print(line, flush=True)
    print("verdict:", "PASS" if report.clean else "FAIL", flush=True)


if __name__ == "__main__":
    main()
