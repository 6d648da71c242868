"""The worker: Legato's workflows and activities, with the adapters chosen by configuration."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from legato.activities.catalog import build_activities
from legato.adapters.registry import Adapters, build_adapters
from legato.config import Settings
from legato.federation.partners import load_federation
from legato.inventory import Inventory
from legato.inventory.live import LiveContinuum
from legato.logs import setup_logging
from legato.schedules import ensure_schedules
from legato.telemetry import setup_tracing, worker_runtime
from legato.temporal import connect
from legato.workflows.catalog import WORKFLOWS

log = logging.getLogger("legato.worker")


# On SIGTERM, activities under way get this long to finish; then they are cancelled and handed back
# to Temporal, which retries them on the next worker (they are idempotent on their operation id).
SHUTDOWN_GRACE = timedelta(seconds=5)
# A worker whose Temporal server is unreachable may wait on its pollers' retries for minutes before
# it can stop (sdk-core keeps retrying a failed poll; temporalio/sdk-rust#1297). Past this bound the
# process stops anyway: whatever it held, Temporal hands to another worker when its timeouts expire.
SHUTDOWN_BOUND = SHUTDOWN_GRACE + timedelta(seconds=10)


def build_worker(client: Client, settings: Settings, adapters: Adapters, inventory: Inventory,
                 live: LiveContinuum | None = None, shutdown_grace: timedelta = timedelta(0)) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(adapters, inventory, load_federation(settings.federation_file), live),
        max_concurrent_activities=200,
        graceful_shutdown_timeout=shutdown_grace,
    )


async def run_worker(settings: Settings) -> None:
    setup_tracing(settings, "legato-worker")
    client = await connect(settings, worker_runtime(settings))
    await ensure_schedules(client, settings)
    inventory = Inventory(settings.inventory_url, settings.public_base)
    live = LiveContinuum(inventory)
    worker = build_worker(client, settings, build_adapters(settings), inventory, live, SHUTDOWN_GRACE)
    # read the continuum while the worker starts, not at the first deployment (seconds at 10,000 sites)
    warming = asyncio.create_task(asyncio.to_thread(live.warm))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
    running = asyncio.create_task(worker.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if running.done():
        running.result()  # a fatal worker error (Temporal unreachable for long) ends the process with it
    clean = await stop_worker(worker, SHUTDOWN_BOUND)
    await warming
    log.info("worker stopped")
    if not clean:
        # the SDK's run task still waits on its pollers: leaving the loop would wait for it again
        logging.shutdown()
        os._exit(0)
    await running


async def stop_worker(worker: Worker, bound: timedelta) -> bool:
    """Ask the worker to stop and wait at most `bound`: True if it stopped, False if it was given up on."""
    try:
        await asyncio.wait_for(asyncio.shield(worker.shutdown()), bound.total_seconds())
        return True
    except TimeoutError:
        log.warning("worker stopping without its Temporal pollers, which did not end within %ss "
                    "(is the Temporal server reachable?)", int(bound.total_seconds()))
        return False


def main() -> None:
    settings = Settings()
    setup_logging(settings)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
