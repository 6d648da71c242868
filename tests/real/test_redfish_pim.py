"""The Redfish PIM against a real Redfish service: the sushy-tools emulator over HTTP with basic auth."""

from __future__ import annotations

import logging

import pytest
import sushy

from legato.adapters.errors import CapacityExhausted, InvalidRequest, PermanentFault
from legato.adapters.pim.redfish import RedfishPIM
from legato.model import Host, Site
from legato.model.backends import RedfishSite, SiteBackends
from tests.real.redfish_emulator import PASSWORD, USER

SYSTEMS = ["edge-a-h1", "edge-a-h2", "edge-a-h3"]


@pytest.fixture(scope="module")
def emulator(redfish_factory):
    return redfish_factory(SYSTEMS)


def site(emulator, **redfish) -> Site:
    cfg = RedfishSite(endpoints=[emulator.url], credentials=f"file:{emulator.credentials_file}", **redfish)
    return Site(
        id="edge-a", tier="edge", provider="p", region="r", country="FR", lat=45, lon=5, cost_per_vcpu_hour=0.1,
        hosts=[Host(id=h, cpu=16, memory_mb=65536, features=["sriov"]) for h in SYSTEMS],
        backend=SiteBackends(pim="redfish", redfish=cfg),
    )  # fmt: skip


def bmc_system(emulator, name: str):
    conn = sushy.Sushy(emulator.url, auth=sushy.auth.BasicAuth(USER, PASSWORD))
    return next(s for s in conn.get_system_collection().get_members() if s.name == name)


async def test_allocate_boots_from_pxe_powers_on_and_release_powers_off(emulator, tmp_path):
    pim = RedfishPIM([site(emulator)], tmp_path / "ledger.db", poll_seconds=0.2)
    hosts = await pim.allocate_hosts("op-alloc-1", "edge-a", ["edge-a-h1", "edge-a-h2"], owner="svc-1")
    assert [(h.id, h.state, h.power, h.service_id) for h in hosts] == [
        ("edge-a-h1", "allocated", "on", "svc-1"), ("edge-a-h2", "allocated", "on", "svc-1")]  # fmt: skip
    for name in ("edge-a-h1", "edge-a-h2"):
        system = bmc_system(emulator, name)
        assert system.power_state == sushy.PowerState.ON
        assert system.boot.target == sushy.BootSource.PXE
    assert bmc_system(emulator, "edge-a-h3").power_state == sushy.PowerState.OFF

    listed = {h.id: (h.state, h.power) for h in await pim.list_hosts("edge-a")}
    assert listed == {"edge-a-h1": ("allocated", "on"), "edge-a-h2": ("allocated", "on"), "edge-a-h3": ("free", "off")}

    # A retry with the same op id answers what the first call did; another op cannot take the hosts.
    assert await pim.allocate_hosts("op-alloc-1", "edge-a", ["edge-a-h1", "edge-a-h2"], owner="svc-1") == hosts
    with pytest.raises(CapacityExhausted, match="edge-a-h2 at site edge-a is already allocated"):
        await pim.allocate_hosts("op-alloc-2", "edge-a", ["edge-a-h3", "edge-a-h2"], owner="svc-2")
    assert "edge-a-h3" not in pim.ledger.holds()  # all or nothing

    # Release only frees what that allocation took.
    assert await pim.release_hosts("op-rel-0", "op-someone-else", ["edge-a-h1"]) == []
    assert await pim.release_hosts("op-rel-1", "op-alloc-1", ["edge-a-h1", "edge-a-h2"]) == ["edge-a-h1", "edge-a-h2"]
    assert await pim.release_hosts("op-rel-1", "op-alloc-1", ["edge-a-h1", "edge-a-h2"]) == ["edge-a-h1", "edge-a-h2"]
    assert {h.id: (h.state, h.power) for h in await pim.list_hosts()} == {
        h: ("free", "off") for h in SYSTEMS}  # fmt: skip


async def test_virtual_media_boot_inserts_the_site_image_and_release_ejects_it(emulator, image_server, tmp_path):
    pim = RedfishPIM([site(emulator, boot="virtual-media", image_url=image_server.url)], tmp_path / "l.db", 0.2)
    await pim.allocate_hosts("op-vm-1", "edge-a", ["edge-a-h3"], owner="svc-vm")
    system = bmc_system(emulator, "edge-a-h3")
    assert system.boot.target == sushy.BootSource.CD
    cds = [m for mgr in system.managers for m in mgr.virtual_media.get_members()
           if sushy.VirtualMediaType.CD in m.media_types]  # fmt: skip
    assert cds[0].inserted and cds[0].image == image_server.url
    await pim.release_hosts("op-vm-rel", "op-vm-1", ["edge-a-h3"])
    cds[0].refresh()
    assert not cds[0].inserted and bmc_system(emulator, "edge-a-h3").power_state == sushy.PowerState.OFF


async def test_wrong_credentials_fail_permanently_without_showing_the_password(emulator, tmp_path, caplog):
    bad = tmp_path / "bad-credentials"
    bad.write_text(f"{USER}:not-the-{PASSWORD}\n")
    wrong = site(emulator).model_copy(deep=True)
    wrong.backend.redfish.credentials = f"file:{bad}"
    pim = RedfishPIM([wrong], tmp_path / "ledger.db")
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentFault, match="refused the credentials") as err:
        await pim.allocate_hosts("op-bad", "edge-a", ["edge-a-h1"], owner="svc")
    assert PASSWORD not in str(err.value) and PASSWORD not in caplog.text
    assert all(h.power is None for h in await pim.list_hosts("edge-a"))  # unknown, not made up


async def test_a_bmc_that_does_not_reach_the_power_state_in_time_is_a_permanent_fault(emulator, tmp_path):
    slow = site(emulator, power_timeout_seconds=0.01)
    pim = RedfishPIM([slow], tmp_path / "ledger.db", poll_seconds=0.05)
    with pytest.raises(PermanentFault, match=r"did not reach power On within"):
        await pim.allocate_hosts("op-slow", "edge-a", ["edge-a-h1"], owner="svc")
    # The compensation (release by the allocation's op id) still powers it off and frees it.
    fast = RedfishPIM([site(emulator)], tmp_path / "ledger.db", poll_seconds=0.2)
    assert await fast.release_hosts("op-slow-undo", "op-slow", ["edge-a-h1"]) == ["edge-a-h1"]
    assert bmc_system(emulator, "edge-a-h1").power_state == sushy.PowerState.OFF


async def test_unknown_hosts_and_sites_are_invalid_requests(emulator, tmp_path):
    pim = RedfishPIM([site(emulator)], tmp_path / "ledger.db")
    with pytest.raises(InvalidRequest, match="host nope does not exist at site edge-a"):
        await pim.allocate_hosts("op-x", "edge-a", ["nope"], owner="svc")
    with pytest.raises(InvalidRequest, match="site far has no Redfish BMC"):
        await pim.allocate_hosts("op-y", "far", ["edge-a-h1"], owner="svc")


async def test_transfer_hands_hosts_to_a_pool_powered_on_and_refusals_name_every_taken_host(emulator, tmp_path):
    pim = RedfishPIM([site(emulator)], tmp_path / "ledger.db", poll_seconds=0.2)
    await pim.allocate_hosts("op-svc", "edge-a", ["edge-a-h1", "edge-a-h2"], owner="svc-1")

    # Only hosts the named allocation holds move; the BMC is not asked to change anything.
    moved = await pim.transfer_hosts("op-pool", "op-svc", ["edge-a-h1", "edge-a-h2", "edge-a-h3"], owner="pool-k1")
    assert moved == ["edge-a-h1", "edge-a-h2"]
    listed = {h.id: (h.state, h.service_id, h.power) for h in await pim.list_hosts("edge-a")}
    assert listed == {"edge-a-h1": ("allocated", "pool-k1", "on"), "edge-a-h2": ("allocated", "pool-k1", "on"),
                      "edge-a-h3": ("free", None, "off")}  # fmt: skip
    assert {h: (x.owner, x.allocation_op) for h, x in pim.ledger.holds().items()} == {
        "edge-a-h1": ("pool-k1", "op-pool"), "edge-a-h2": ("pool-k1", "op-pool")}  # fmt: skip

    # A retry answers the same and changes nothing; the old allocation no longer holds them.
    assert await pim.transfer_hosts("op-pool", "op-svc", ["edge-a-h1", "edge-a-h2"], owner="pool-k1") == moved
    assert await pim.transfer_hosts("op-pool-2", "op-svc", ["edge-a-h1"], owner="someone") == []
    assert await pim.release_hosts("op-rel-old", "op-svc", ["edge-a-h1", "edge-a-h2"]) == []
    assert {h.id: h.power for h in await pim.list_hosts("edge-a")}["edge-a-h1"] == "on"

    # Taking hosts some of which are taken names all of them, and claims none.
    with pytest.raises(CapacityExhausted) as refused:
        await pim.allocate_hosts("op-other", "edge-a", ["edge-a-h3", "edge-a-h2", "edge-a-h1"], owner="svc-2")
    assert refused.value.resources == ["host:edge-a-h2", "host:edge-a-h1"]
    assert "edge-a-h2 at site edge-a is already allocated" in str(refused.value)
    assert "edge-a-h1 at site edge-a is already allocated" in str(refused.value)
    assert "edge-a-h3" not in pim.ledger.holds() and "edge-a-h3" not in str(refused.value)

    # Released under the transfer's op id, they power off and are free again.
    assert await pim.release_hosts("op-rel-pool", "op-pool", ["edge-a-h1", "edge-a-h2"]) == ["edge-a-h1", "edge-a-h2"]
    assert {h.id: (h.state, h.power) for h in await pim.list_hosts()} == {h: ("free", "off") for h in SYSTEMS}
