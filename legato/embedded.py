"""`legato up`: the embedded defaults in one command — Temporal dev server, worker, API and the
simulated continuum — with every child process stopped on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from legato.api.auth import ensure_tokens_file
from legato.config import Settings
from legato.devserver import DevServer, wait_for_port
from legato.inventory import Inventory
from legato.topology import load_topology, topology_summary


def prepare_continuum(settings: Settings) -> dict:
    """Load the topology into the inventory and seed the simulator (a no-op once seeded: the
    simulated infrastructure keeps its state across restarts, like a real one)."""
    from legato.adapters.registry import start_shared_clusters
    from legato.adapters.sim_continuum import SimContinuum
    from legato.adapters.sim_profiles import apply_profile

    topology = load_topology(settings.topology)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sim = SimContinuum(settings.sim_path)
    sim.seed(topology)
    apply_profile(sim, settings.sim_profile)
    Inventory(settings.inventory_url).load_topology(topology)
    start_shared_clusters(settings)
    return topology_summary(topology)


def spawn(args: list[str], log_file: Path, env: dict[str, str]) -> subprocess.Popen:
    out = open(log_file, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop_all(procs: list[subprocess.Popen], timeout: float = 15.0) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in reversed(procs):
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_embedded(settings: Settings, echo=print) -> int:
    data = settings.data_dir.resolve()
    data.mkdir(parents=True, exist_ok=True)
    tokens = ensure_tokens_file(settings.tokens_path)
    summary = prepare_continuum(settings)
    tiers = ", ".join(f"{n} {tier}" for tier, n in summary["sites_per_tier"].items())
    echo(f"continuum {settings.topology.name}: {summary['sites']} sites ({tiers}), {summary['hosts']} hosts, "
         f"{summary['vcpu']:g} vCPU, {summary['gpu']} GPUs, {summary['areas']} user areas; "
         f"sim profile {settings.sim_profile}")

    host, _, port = settings.temporal_address.rpartition(":")
    server = DevServer(data / "temporal.db", port=int(port), ui_port=settings.temporal_ui_port,
                       log_file=data / "temporal.log")
    metrics = settings.worker_metrics_address or "127.0.0.1:9464"
    env = {**os.environ, "LEGATO_DATA_DIR": str(data), "LEGATO_WORKER_METRICS_ADDRESS": metrics,
           "LEGATO_WORKER_METRICS_URL": settings.worker_metrics_url or f"http://{metrics}/metrics"}
    procs: list[subprocess.Popen] = []
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        echo(f"starting Temporal dev server (state in {server.db_file}) ...")
        server.start()
        procs.append(server.proc)
        procs.append(spawn([sys.executable, "-m", "legato.worker"], data / "worker.log", env))
        procs.append(spawn([sys.executable, "-m", "uvicorn", "legato.api.main:app", "--host", settings.api_host,
                            "--port", str(settings.api_port), "--log-level", "warning"], data / "api.log", env))
        wait_for_port(settings.api_port, 60, procs[-1])
        base = f"http://{settings.api_host}:{settings.api_port}"
        echo("")
        echo(f"Legato is up.  API {base}   docs {base}/docs   Temporal Web UI http://127.0.0.1:{server.ui_port}")
        echo(f"tenants and tokens: {settings.tokens_path} ({', '.join(sorted(tokens))}); the CLI reads it itself")
        echo(f"metrics {base}/metrics (worker: http://{metrics}/metrics)   health {base}/readyz")
        echo(f"logs: {data}/{{temporal,worker,api}}.log      Ctrl-C stops everything")
        while not stopping:
            dead = next((p for p in procs if p.poll() is not None), None)
            if dead is not None:
                echo(f"a child process exited with code {dead.returncode} ({' '.join(dead.args[:3])}); stopping")
                return 1
            time.sleep(0.3)
        echo("stopping ...")
        return 0
    finally:
        stop_all(procs)
        echo("stopped.")
