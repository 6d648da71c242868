"""The node-removal sequence the simulator tests share."""

import asyncio

from legato.adapters.mcm.sim import SimMCM


async def drain_and_remove(mcm: SimMCM, op: str, cluster_id: str, hosts: list[str]):
    """The three calls of a node removal: drain (all or nothing), wait until empty, remove."""
    drained = await mcm.drain_nodes(f"{op}/drain", cluster_id, hosts, partial=False)
    while any((await mcm.busy_nodes(cluster_id, drained.draining)).values()):
        await asyncio.sleep(0.02)
    return await mcm.remove_nodes(f"{op}/remove", cluster_id, hosts)
