"""The TCM contract (the table in legato/adapters/tcm/__init__.py), held against every backend: the
sim for now; the standard connectivity APIs to come prove themselves here."""

from __future__ import annotations

import pytest

from legato.adapters.errors import CapacityExhausted, InvalidRequest
from legato.model.connectivity import Connection, LinkRequest, QosRequest
from tests.contract.worlds import TcmWorld


def link(w: TcmWorld, link_id: str = "link-1", *, bandwidth: float = 10, max_latency: float = 50,
         source: str | None = None, target: str | None = None, service: str = "svc-1") -> LinkRequest:
    return LinkRequest(id=link_id, service_id=service, source_site=source or w.a, target_site=target or w.b,
                       source_endpoint="web", target_endpoint="db", bandwidth_mbps=bandwidth,
                       max_latency_ms=max_latency)  # fmt: skip


def qos(w: TcmWorld, qos_id: str = "qos-1", *, site: str | None = None, area: str | None = None,
        max_latency: float = 10) -> QosRequest:
    return QosRequest(id=qos_id, service_id="svc-1", area=area or w.area, site=site or w.a, endpoint="web:8080",
                      profile="gold", bandwidth_mbps=5, max_latency_ms=max_latency)  # fmt: skip


async def open_ids(w: TcmWorld, service: str | None = None) -> list[str]:
    return [c.id for c in await w.tcm.list_connections(service)]


async def test_connect_dedups_on_the_op_id_and_the_link_is_named_by_its_id(tcm_world: TcmWorld):
    w = tcm_world
    first = await w.tcm.connect("op-connect", link(w))
    assert first == Connection(id="link-1", service_id="svc-1", kind="link", latency_ms=w.latency)
    assert await w.tcm.connect("op-connect", link(w)) == first
    assert await w.tcm.connect("op-connect-2", link(w)) == first  # open the same way: kept
    changed = await w.tcm.connect("op-connect-3", link(w, bandwidth=20))  # changed: replaced, still one
    assert (changed.id, changed.kind) == ("link-1", "link")
    assert await w.tcm.list_connections("svc-1") == [changed]

    # A repeat after the link was closed answers as the first time and opens nothing.
    await w.tcm.disconnect("op-disconnect", "link-1")
    assert await w.tcm.connect("op-connect", link(w)) == first
    assert await open_ids(w) == []


async def test_a_link_that_cannot_be_made_is_refused_and_nothing_opens(tcm_world: TcmWorld):
    w = tcm_world
    for i, request in enumerate([
        link(w, target="no-such-site"),
        link(w, target=w.unlinked),  # no latency known between the sites
        link(w, max_latency=w.latency / 2),  # the sites are further apart than the link allows
    ]):  # fmt: skip
        with pytest.raises(InvalidRequest):
            await w.tcm.connect(f"op-invalid-{i}", request)
    with pytest.raises(CapacityExhausted) as refused:
        await w.tcm.connect("op-too-much", link(w, bandwidth=w.bandwidth * 1.5))
    assert refused.value.resources == [f"link:{min(w.a, w.b)}|{max(w.a, w.b)}"]
    assert await open_ids(w) == []


async def test_bandwidth_is_shared_by_the_links_of_a_site_pair_and_freed_by_disconnect(tcm_world: TcmWorld):
    w = tcm_world
    await w.tcm.connect("op-connect-a", link(w, "link-a", bandwidth=w.bandwidth * 0.6))
    with pytest.raises(CapacityExhausted):  # either direction counts
        await w.tcm.connect("op-connect-b", link(w, "link-b", bandwidth=w.bandwidth * 0.5, source=w.b, target=w.a))
    await w.tcm.disconnect("op-disconnect-a", "link-a")
    assert (await w.tcm.connect("op-connect-b", link(w, "link-b", bandwidth=w.bandwidth * 0.5))).id == "link-b"
    assert await open_ids(w) == ["link-b"]


async def test_disconnect_is_idempotent(tcm_world: TcmWorld):
    w = tcm_world
    await w.tcm.disconnect("op-disconnect-nothing", "no-such-link")
    await w.tcm.connect("op-connect", link(w))
    await w.tcm.disconnect("op-disconnect", "link-1")
    assert await open_ids(w) == []
    await w.tcm.disconnect("op-disconnect", "link-1")
    await w.tcm.disconnect("op-disconnect-2", "link-1")
    assert await open_ids(w) == []


async def test_user_qos_dedups_is_named_by_its_id_and_clears_idempotently(tcm_world: TcmWorld):
    w = tcm_world
    first = await w.tcm.set_user_qos("op-qos", qos(w))
    assert first == Connection(id="qos-1", service_id="svc-1", kind="qos", latency_ms=w.area_latency)
    assert await w.tcm.set_user_qos("op-qos", qos(w)) == first
    assert await w.tcm.set_user_qos("op-qos-2", qos(w)) == first
    assert await open_ids(w, "svc-1") == ["qos-1"]
    await w.tcm.clear_user_qos("op-clear", "qos-1")
    assert await open_ids(w) == []
    await w.tcm.clear_user_qos("op-clear", "qos-1")
    await w.tcm.clear_user_qos("op-clear-2", "qos-1")
    await w.tcm.clear_user_qos("op-clear-nothing", "no-such-qos")


async def test_user_qos_that_cannot_be_met_is_an_invalid_request(tcm_world: TcmWorld):
    w = tcm_world
    for i, request in enumerate([
        qos(w, area="no-such-area"),
        qos(w, site=w.unlinked),  # no latency known from the area to the site
        qos(w, max_latency=w.area_latency / 2),
    ]):  # fmt: skip
        with pytest.raises(InvalidRequest):
            await w.tcm.set_user_qos(f"op-invalid-{i}", request)
    assert await open_ids(w) == []


async def test_list_connections_shows_what_is_open_by_service(tcm_world: TcmWorld):
    w = tcm_world
    await w.tcm.connect("op-connect-1", link(w, "link-1"))
    await w.tcm.connect("op-connect-2", link(w, "link-2", service="svc-2"))
    await w.tcm.set_user_qos("op-qos", qos(w))
    assert {(c.id, c.kind) for c in await w.tcm.list_connections("svc-1")} == {("link-1", "link"), ("qos-1", "qos")}
    assert await open_ids(w, "svc-2") == ["link-2"]
    assert sorted(await open_ids(w)) == ["link-1", "link-2", "qos-1"]
