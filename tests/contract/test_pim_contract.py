"""The PIM contract (the table in legato/adapters/pim/__init__.py), held against every backend:
the sim and the Redfish PIM on the sushy-tools emulator."""

from __future__ import annotations

import pytest

from legato.adapters.errors import CapacityExhausted, InvalidRequest, PermanentFault, TransientFault
from legato.model import Host
from tests.contract.worlds import PimWorld


def held(hosts: list[Host]) -> dict[str, tuple[str, str | None, str | None]]:
    return {h.id: (h.state, h.service_id, h.power) for h in hosts}


async def holding(w: PimWorld) -> dict[str, tuple[str, str | None, str | None]]:
    return held(await w.pim.list_hosts(w.site))


FREE = ("free", None, "off")


async def test_list_hosts_reports_every_host_of_the_site_and_who_holds_it(pim_world: PimWorld):
    w = pim_world
    hosts = {h.id: h for h in await w.pim.list_hosts(w.site)}
    assert set(hosts) == {*w.free, w.fixed}
    assert {(h.site, h.cpu, h.memory_mb) for h in hosts.values()} == {(w.site, 4, 8192)}
    assert held(hosts.values()) == {h: FREE for h in w.free} | {w.fixed: ("allocated", None, hosts[w.fixed].power)}
    assert [h.id for h in await w.pim.list_hosts(w.other_site)] == [w.elsewhere]
    assert {h.id for h in await w.pim.list_hosts()} == {*w.free, w.fixed, w.elsewhere}


async def test_allocate_dedups_on_the_op_id_even_after_the_hosts_were_released(pim_world: PimWorld):
    w = pim_world
    a, b = w.free[:2]
    first = await w.pim.allocate_hosts("op-alloc", w.site, [b, a], "svc-1")
    assert [(h.id, h.site) for h in first] == [(b, w.site), (a, w.site)]  # the request's order
    assert held(first) == {b: ("allocated", "svc-1", "on"), a: ("allocated", "svc-1", "on")}
    assert await w.pim.allocate_hosts("op-alloc", w.site, [b, a], "svc-1") == first
    assert (await holding(w))[a] == ("allocated", "svc-1", "on")

    assert await w.pim.release_hosts("op-release", "op-alloc", [b, a]) == [b, a]
    assert await w.pim.allocate_hosts("op-alloc", w.site, [b, a], "svc-1") == first  # the first answer...
    assert await holding(w) == {h: FREE for h in w.free} | {w.fixed: (await holding(w))[w.fixed]}  # ...and no act


async def test_a_taken_host_is_refused_by_name_and_nothing_is_taken(pim_world: PimWorld):
    w = pim_world
    a, b, c = w.free[:3]
    await w.pim.allocate_hosts("op-first", w.site, [a], "svc-1")
    with pytest.raises(CapacityExhausted) as refused:
        await w.pim.allocate_hosts("op-second", w.site, [c, a, w.fixed, b], "svc-2")
    assert refused.value.resources == [f"host:{a}", f"host:{w.fixed}"]  # every taken one, in the request's order
    assert (await holding(w))[b] == (await holding(w))[c] == FREE

    # A refusal records nothing: once the host is free, the same op id takes it.
    with pytest.raises(CapacityExhausted):
        await w.pim.allocate_hosts("op-third", w.site, [c, a], "svc-3")
    await w.pim.release_hosts("op-release", "op-first", [a])
    assert [h.id for h in await w.pim.allocate_hosts("op-third", w.site, [c, a], "svc-3")] == [c, a]
    assert (await holding(w))[a] == (await holding(w))[c] == ("allocated", "svc-3", "on")


async def test_what_cannot_be_allocated_is_an_invalid_request(pim_world: PimWorld):
    w = pim_world
    a = w.free[0]
    for i, (site, hosts, owner) in enumerate([
        (w.site, ["no-such-host"], "svc"),
        (w.site, [w.elsewhere], "svc"),  # a host of another site
        ("no-such-site", [a], "svc"),
        (w.site, [a], ""),  # nobody to hold it
    ]):  # fmt: skip
        with pytest.raises(InvalidRequest):
            await w.pim.allocate_hosts(f"op-invalid-{i}", site, hosts, owner)
    assert (await holding(w))[a] == FREE


async def test_release_frees_only_what_the_op_took_and_is_idempotent(pim_world: PimWorld):
    w = pim_world
    a, b = w.free[:2]
    await w.pim.allocate_hosts("op-a", w.site, [a], "svc-a")
    await w.pim.allocate_hosts("op-b", w.site, [b], "svc-b")
    assert await w.pim.release_hosts("op-release", "op-a", [a, b, "no-such-host"]) == [a]
    assert (await holding(w))[a] == FREE and (await holding(w))[b] == ("allocated", "svc-b", "on")
    assert await w.pim.release_hosts("op-release", "op-a", [a, b, "no-such-host"]) == [a]  # the first answer
    assert await w.pim.release_hosts("op-release-again", "op-a", [a]) == []  # nothing left to free: success
    assert await w.pim.release_hosts("op-release-never", "op-never", [b]) == []
    assert (await holding(w))[b] == ("allocated", "svc-b", "on")

    # A repeat after the host was taken again frees nothing.
    await w.pim.allocate_hosts("op-c", w.site, [a], "svc-c")
    assert await w.pim.release_hosts("op-release", "op-a", [a, b, "no-such-host"]) == [a]
    assert (await holding(w))[a] == ("allocated", "svc-c", "on")


async def test_transfer_hands_the_hosts_over_as_they_are_and_the_new_op_holds_them(pim_world: PimWorld):
    w = pim_world
    a, b, c = w.free[:3]
    await w.pim.allocate_hosts("op-service", w.site, [a, b], "svc-1")
    assert await w.pim.transfer_hosts("op-pool", "op-service", [a, b, c], "pool-1") == [a, b]
    now = await holding(w)
    assert (now[a], now[b], now[c]) == (("allocated", "pool-1", "on"), ("allocated", "pool-1", "on"), FREE)
    assert await w.pim.transfer_hosts("op-pool", "op-service", [a, b, c], "pool-1") == [a, b]  # the first answer
    assert await w.pim.transfer_hosts("op-pool-2", "op-service", [a], "someone") == []  # op-service holds none now
    assert await w.pim.release_hosts("op-release-old", "op-service", [a, b]) == []
    with pytest.raises(InvalidRequest):
        await w.pim.transfer_hosts("op-pool-3", "op-pool", [a], "")
    assert (await holding(w))[a] == ("allocated", "pool-1", "on")
    assert await w.pim.release_hosts("op-release-pool", "op-pool", [a, b]) == [a, b]
    assert (await holding(w))[a] == (await holding(w))[b] == FREE


async def test_a_backend_out_of_reach_is_a_transient_fault_and_the_retry_acts_once(pim_world: PimWorld):
    w = pim_world
    a = w.free[0]
    with pytest.raises(TransientFault):
        await w.unreachable().allocate_hosts("op-retried", w.site, [a], "svc-1")
    w.heal()
    got = await w.pim.allocate_hosts("op-retried", w.site, [a], "svc-1")
    assert held(got) == {a: ("allocated", "svc-1", "on")}
    assert await w.pim.allocate_hosts("op-retried", w.site, [a], "svc-1") == got


async def test_a_backend_that_refuses_for_good_is_a_permanent_fault(pim_world: PimWorld):
    w = pim_world
    with pytest.raises(PermanentFault):
        await w.refusing().allocate_hosts("op-refused", w.site, [w.free[0]], "svc-1")
    w.heal()
