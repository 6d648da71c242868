"""A whole Legato for a test: real Temporal dev server, real uvicorn API over HTTP, the worker
(in-process or as a child process that can be SIGKILLed), the sim continuum and the inventory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from legato.adapters.registry import build_adapters
from legato.api.app import create_app
from legato.config import Settings
from legato.devserver import free_port, wait_for_port
from legato.embedded import prepare_continuum
from legato.inventory import Inventory
from legato.simulator import SimContinuum
from legato.telemetry import worker_runtime
from legato.temporal import connect
from legato.worker import build_worker

TOKENS = {"alpha": "token-alpha", "beta": "token-beta", "operator": "token-operator"}
EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"


class ApiServer:
    """uvicorn in a thread: the API answers real HTTP on a loopback port."""

    def __init__(self, settings: Settings, port: int | None = None):
        self.port = port or free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        wait_for_port(self.port, 30)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Stack:
    settings: Settings
    base_url: str
    sim: SimContinuum
    inventory: Inventory
    worker_procs: list[subprocess.Popen] = field(default_factory=list)
    api: ApiServer | None = None

    def restart_api(self, down_for: float = 0.0) -> None:
        """Stop the API server and start a new one on the same port (a restart of the API process)."""
        port = self.api.port
        self.api.__exit__(None, None, None)
        time.sleep(down_for)
        self.api = ApiServer(self.settings, port).__enter__()

    @property
    def adapters(self):
        return build_adapters(self.settings)

    def http(self, tenant: str = "alpha") -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {TOKENS[tenant]}"})

    async def deploy(self, spec: dict, tenant: str = "alpha") -> str:
        async with self.http(tenant) as client:
            resp = await client.post("/v1/services", json=spec)
        assert resp.status_code == 202, resp.text
        return resp.json()["id"]

    async def wait_state(self, service_id: str, states: set[str], timeout: float = 120, tenant: str = "alpha") -> dict:
        deadline = time.monotonic() + timeout
        last = None
        async with self.http(tenant) as client:
            while time.monotonic() < deadline:
                resp = await client.get(f"/v1/services/{service_id}")
                if resp.status_code == 200:
                    last = resp.json()
                    if last["state"] in states:
                        return last
                await asyncio.sleep(0.3)
        raise AssertionError(f"{service_id} never reached {states}; last seen: {last and last['state']} {last}")

    async def sim_workloads(self, service_id: str):
        return [w for w in await self.adapters.wdm.list_workloads() if w.service_id == service_id]

    async def remove(self, service_id: str, tenant: str = "alpha") -> None:
        """DELETE the service, wait until it is terminated, and check nothing of it is left anywhere."""
        async with self.http(tenant) as client:
            resp = await client.delete(f"/v1/services/{service_id}")
        assert resp.status_code == 202, resp.text
        await self.wait_state(service_id, {"terminated"}, tenant=tenant)
        self.assert_nothing_left(service_id)

    def assert_nothing_left(self, service_id: str) -> None:
        """No host, cluster, workload or link of the service in the simulator or the inventory."""
        left = self.sim.leftovers(service_id)
        assert left == {k: 0 for k in left}, f"leaked in the sim: {left}"
        assert self.inventory_hosts(service_id) == set()
        assert self.inventory.components(service_id) == [] and self.inventory.connections(service_id) == []

    def sim_ops(self, kind: str) -> list[str]:
        """Operation ids the simulator has recorded for one kind (what the backends were asked)."""
        return self.sim.op_ids(kind)

    async def sim_connections(self, service_id: str):
        return await self.adapters.tcm.list_connections(service_id)

    async def sim_hosts(self, service_id: str) -> set[str]:
        return {h.id for h in await self.adapters.pim.list_hosts() if h.service_id == service_id}

    def inventory_hosts(self, service_id: str) -> set[str]:
        rows, _ = self.inventory.hosts(0, 100_000)
        return {h.id for h in rows if h.service_id == service_id}

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "LEGATO_DATA_DIR": str(s.data_dir),
            "LEGATO_TEMPORAL_ADDRESS": s.temporal_address,
            "LEGATO_TASK_QUEUE": s.task_queue,
            "LEGATO_DATABASE_URL": s.inventory_url,
            "LEGATO_SIM_DATABASE": str(s.sim_path),
            "LEGATO_TOPOLOGY": str(s.topology),
            **({"LEGATO_FEDERATION_FILE": str(s.federation_file)} if s.federation_file else {}),
        }

    def start_worker_process(self) -> subprocess.Popen:
        log = open(self.settings.data_dir / f"worker-{len(self.worker_procs)}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "legato.worker"], env=self.env(), stdout=log,
                                stderr=subprocess.STDOUT)
        self.worker_procs.append(proc)
        return proc


def make_settings(data_dir: Path, temporal_address: str) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        data_dir=data_dir,
        temporal_address=temporal_address,
        task_queue=f"legato-test-{uuid.uuid4().hex[:8]}",
        api_tokens=",".join(f"{token}={tenant}" for tenant, token in TOKENS.items()),
        api_tokens_file=data_dir / "no-tokens-file.yaml",
        sim_profile="instant",
    )


@asynccontextmanager
async def running_stack(data_dir: Path, temporal_address: str, worker: str = "inline", **overrides):
    """worker: "inline" (in this event loop), "process" (a child process), or "none"; `overrides`
    are settings (e.g. database_url; `api_port` fixes the API's port, e.g. to restart it there;
    `task_queue` is kept across a restart on the same data_dir)."""
    settings = make_settings(data_dir, temporal_address).model_copy(update=overrides)
    prepare_continuum(settings)
    inventory = Inventory(settings.inventory_url)
    with ApiServer(settings, overrides.get("api_port")) as api:
        stack = Stack(settings, f"http://127.0.0.1:{api.port}", SimContinuum(settings.sim_path), inventory)
        stack.api = api
        try:
            if worker == "inline":
                client = await connect(settings, worker_runtime(settings))
                async with build_worker(client, settings, build_adapters(settings), inventory):
                    yield stack
            else:
                if worker == "process":
                    stack.start_worker_process()
                yield stack
        finally:
            for proc in stack.worker_procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(10)
