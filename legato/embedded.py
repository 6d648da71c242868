"""`legato up`: the embedded defaults in one command — Temporal dev server, worker, API and the
simulated continuum. Ctrl-C stops them in order, API, worker, Temporal, saying so as it goes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from legato.api.auth import ensure_tokens_file
from legato.config import Settings
from legato.devserver import DevServer, Interrupted, wait_for_port
from legato.inventory import Inventory
from legato.topology_loader import load_topology, topology_summary


def prepare_continuum(settings: Settings) -> dict:
    """Load the topology into the inventory and seed the simulator (a no-op once seeded: the
    simulated infrastructure keeps its state across restarts, like a real one)."""
    from legato.adapters.registry import start_shared_clusters
    from legato.simulator import SimContinuum
    from legato.simulator.profiles import apply_profile

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


# How long each part may take to stop before it is killed. uvicorn gives requests under way
# API_GRACE seconds (a CLI waiting on a long operation gets cut off, and can ask again later);
# the worker gives activities under way its SHUTDOWN_GRACE, then hands them back to Temporal.
API_GRACE = 3


@dataclass
class Part:
    name: str
    proc: subprocess.Popen
    bound: float  # seconds from SIGTERM to SIGKILL
    note: str = ""


def _echo(text: str, end: str = "\n") -> None:
    print(text, end=end, flush=True)


def stop_in_order(parts: list[Part], echo=_echo, hurry=lambda: False) -> None:
    """Stop the parts one after the other, in the order given, each before the next is asked: the
    API first (no new work comes in), then the worker (it finishes or hands back what it runs while
    Temporal still answers it), then Temporal. Each gets SIGTERM, then SIGKILL past its bound, or at
    once when `hurry()` turns true (a second Ctrl-C). Every step is printed as it happens."""
    for part in parts:
        if part.proc.poll() is not None:
            continue
        echo(f"stopping the {part.name}{part.note} ...", end=" ")
        started = time.monotonic()
        part.proc.send_signal(signal.SIGTERM)
        while part.proc.poll() is None and time.monotonic() - started < part.bound and not hurry():
            time.sleep(0.05)
        if part.proc.poll() is None:
            part.proc.kill()
            part.proc.wait()
            echo(f"killed after {time.monotonic() - started:.1f} s")
        else:
            echo(f"stopped ({time.monotonic() - started:.1f} s)")


def run_embedded(settings: Settings, echo=_echo) -> int:
    from legato.worker import SHUTDOWN_GRACE

    interrupts = 0

    def on_signal(signum, _frame):
        nonlocal interrupts
        interrupts += 1

    # from the start: Ctrl-C while the continuum loads stops what has started once it has
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
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
                       log_file=data / "temporal.log", log_format=settings.log_format)
    metrics = settings.worker_metrics_address or "127.0.0.1:9464"
    env = {**os.environ, "LEGATO_DATA_DIR": str(data), "LEGATO_WORKER_METRICS_ADDRESS": metrics,
           "LEGATO_WORKER_METRICS_URL": settings.worker_metrics_url or f"http://{metrics}/metrics"}
    grace = SHUTDOWN_GRACE.total_seconds()
    parts: dict[str, Part] = {}
    code = 0
    try:
        if interrupts:
            raise Interrupted("before anything started")
        echo(f"starting Temporal dev server (state in {server.db_file}) ...")
        try:
            server.start(abort=lambda: interrupts > 0)
        finally:
            if server.proc is not None:
                parts["temporal"] = Part("Temporal dev server", server.proc, 10)
        parts["worker"] = Part("worker", spawn([sys.executable, "-m", "legato.worker"], data / "worker.log", env),
                               grace + 5, f" (activities under way get {grace:g} s to finish)")
        parts["api"] = Part("API", spawn(
            [sys.executable, "-m", "uvicorn", "legato.api.main:app", "--host", settings.api_host,
             "--port", str(settings.api_port), "--timeout-graceful-shutdown", str(API_GRACE)],
            data / "api.log", env), API_GRACE + 3)
        wait_for_port(settings.api_port, 60, parts["api"].proc, abort=lambda: interrupts > 0)
        base = f"http://{settings.api_host}:{settings.api_port}"
        echo("")
        echo(f"Legato is up.  API {base}   docs {base}/docs   Temporal Web UI http://127.0.0.1:{server.ui_port}")
        echo(f"tenants and tokens: {settings.tokens_path} ({', '.join(sorted(tokens))}); the CLI reads it itself")
        echo(f"metrics {base}/metrics (worker: http://{metrics}/metrics)   health {base}/readyz")
        echo(f"logs: {data}/{{temporal,worker,api}}.log      Ctrl-C stops everything")
        while not interrupts:
            dead = next((p for p in parts.values() if p.proc.poll() is not None), None)
            if dead is not None:
                echo(f"the {dead.name} exited with code {dead.proc.returncode}; stopping the rest")
                code = 1
                break
            time.sleep(0.1)
    except Interrupted:
        pass
    except (RuntimeError, TimeoutError) as err:  # a part that does not come up: say which, no traceback
        echo(f"Legato did not start: {err}; see the logs in {data}")
        code = 1
    finally:
        if interrupts:
            echo("stopping Legato (Ctrl-C again to kill what is left) ...")
        stop_in_order([parts[k] for k in ("api", "worker", "temporal") if k in parts], echo,
                      hurry=lambda: interrupts > 1)
        echo("stopped.")
    return code
