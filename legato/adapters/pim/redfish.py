"""PIM on DMTF Redfish BMCs (the `sushy` client): the hosts of a site are Systems of its BMCs.

Allocate = claim in the ledger, set the boot source (PXE, or virtual media with the site's OS
image), power on, and poll until the BMC reports it (BMCs apply power changes after a delay).
Release = power off, eject the media, free in the ledger. Transfer (a host handed to a shared
cluster's pool) is the ledger's alone: the host keeps running. sushy is synchronous, so each BMC call
runs in a thread; the activity heartbeats meanwhile. Credentials are read from the reference in
the topology when a BMC is first used, and never logged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sushy
from sushy import exceptions as sx

from legato.adapters.errors import (
    AdapterError,
    CapacityExhausted,
    InvalidRequest,
    NotFound,
    PermanentFault,
    TransientFault,
)
from legato.adapters.pim.ledger import Hold, Ledger
from legato.adapters.secrets import read_user_password
from legato.model import Host, Site
from legato.model.backends import RedfishSite

log = logging.getLogger("legato.pim.redfish")
T = TypeVar("T")
ON, OFF = sushy.PowerState.ON, sushy.PowerState.OFF


def bmc_call(endpoint: str, fn: Callable[[], T]) -> T:
    """One synchronous BMC exchange, with sushy's errors mapped onto retry semantics."""
    try:
        return fn()
    except sx.ConnectionError as err:
        raise TransientFault(f"BMC {endpoint} is unreachable: {type(err).__name__}") from None
    except sx.AccessError:
        raise PermanentFault(f"BMC {endpoint} refused the credentials (HTTP 401/403)") from None
    except sx.ResourceNotFoundError as err:
        raise NotFound(f"BMC {endpoint}: {err}") from None
    except sx.ServerSideError as err:
        raise TransientFault(f"BMC {endpoint} failed: {err}") from None
    except sx.SushyError as err:
        raise PermanentFault(f"BMC {endpoint} refused: {err}") from None


class RedfishPIM:
    """Bare-metal hosts of the sites whose topology says `pim: redfish`."""

    def __init__(self, sites: list[Site], ledger_path: Path, poll_seconds: float = 0.5) -> None:
        self.sites = {s.id: s for s in sites}
        self.hosts = {h.id: h.model_copy(update={"site": s.id}) for s in sites for h in s.hosts}
        self.in_topology_clusters = {h: c.id for s in sites for c in s.clusters for h in c.hosts}
        self.ledger = Ledger(ledger_path)
        self.poll_seconds = poll_seconds
        self._bmcs: dict[str, sushy.Sushy] = {}
        self._systems: dict[str, tuple[str, str]] = {}  # host id -> (endpoint, system path)

    # ---- reading

    async def list_hosts(self, site: str | None = None) -> list[Host]:
        holds = self.ledger.holds()
        found = [h for h in self.hosts.values() if site is None or h.site == site]
        powers = await asyncio.gather(*(self._power_or_none(h.id) for h in found))
        return [self._host(h.id, holds.get(h.id), power) for h, power in zip(found, powers, strict=True)]

    def _host(self, host_id: str, hold: Hold | None, power: str | None) -> Host:
        held = {"state": "allocated", "service_id": hold.owner} if hold else {"state": "free", "service_id": None}
        if host_id in self.in_topology_clusters:  # the topology's own clusters hold these for good
            held = {"state": "allocated", "service_id": None}
        return self.hosts[host_id].model_copy(update={**held, "power": power})

    async def _power_or_none(self, host_id: str) -> str | None:
        try:
            return (await self._read_power(host_id)).value.lower()
        except AdapterError as err:
            log.warning("power of host %s unknown: %s", host_id, err)
            return None

    # ---- acting

    async def allocate_hosts(self, op_id: str, site: str, host_ids: list[str], owner: str) -> list[Host]:
        if (done := self.ledger.done("allocate", op_id)) is not None:
            return [Host.model_validate(h) for h in done]
        if not owner:
            raise InvalidRequest("owner: the service allocating hosts is required")
        ids = list(dict.fromkeys(host_ids))
        cfg = self._site(site)
        for host_id in ids:
            if self.hosts.get(host_id) is None or self.hosts[host_id].site != site:
                raise InvalidRequest(f"host {host_id} does not exist at site {site}")
        # Every taken host is named, not just the first: placement then avoids them all at once
        # instead of finding them one refusal at a time.
        reasons = {h: f"host {h} is a node of cluster {self.in_topology_clusters[h]}"
                   for h in ids if h in self.in_topology_clusters}  # fmt: skip
        taken = self.ledger.claim(op_id, site, owner, ids, blocked=reasons)
        reasons |= {h: f"host {h} at site {site} is already allocated" for h in taken}
        if reasons:
            refused = [h for h in ids if h in reasons]
            raise CapacityExhausted("; ".join(reasons[h] for h in refused), resources=[f"host:{h}" for h in refused])
        for host_id in ids:
            await self._prepare_boot(host_id, cfg)
        await self._set_power(ids, ON, cfg)
        hosts = [self._host(h, Hold(h, site, owner, op_id, True), "on") for h in ids]
        self.ledger.mark_ready(op_id, ids, [h.model_dump(mode="json") for h in hosts])
        return hosts

    async def release_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str]) -> list[str]:
        if (done := self.ledger.done("release", op_id)) is not None:
            return list(done)
        holds = self.ledger.holds(host_ids)
        held = [h for h in dict.fromkeys(host_ids) if h in holds and holds[h].allocation_op == allocation_op_id]
        for site in {self.hosts[h].site for h in held}:
            mine = [h for h in held if self.hosts[h].site == site]
            await self._set_power(mine, OFF, self._site(site))
            for host_id in mine:
                await self._eject(host_id)
        self.ledger.free(op_id, allocation_op_id, held, held)
        return held

    async def transfer_hosts(self, op_id: str, allocation_op_id: str, host_ids: list[str], owner: str) -> list[str]:
        """Only ownership changes hands: the hosts run a cluster's nodes that now belong to its pool,
        so their power and boot stay as they are and no BMC is called."""
        if not owner:
            raise InvalidRequest("owner: the new owner of the hosts is required")
        return self.ledger.transfer(op_id, allocation_op_id, host_ids, owner)

    # ---- the BMC side

    def _site(self, site: str) -> RedfishSite:
        cfg = self.sites.get(site)
        if cfg is None or cfg.backend.redfish is None:
            raise InvalidRequest(f"site {site} has no Redfish BMC in the topology")
        return cfg.backend.redfish

    def _bmc(self, site: RedfishSite, endpoint: str) -> sushy.Sushy:
        if endpoint not in self._bmcs:
            user, password = read_user_password(site.credentials)
            auth = sushy.auth.BasicAuth(username=user, password=password.get_secret_value())
            self._bmcs[endpoint] = bmc_call(endpoint, lambda: sushy.Sushy(
                endpoint, auth=auth, verify=site.verify_tls, server_side_retries=1, server_side_retries_delay=1,
                read_timeout=30, connect_timeout=10))  # fmt: skip
        return self._bmcs[endpoint]

    def _system(self, host_id: str) -> tuple[str, sushy.resources.system.system.System]:
        """The host's System, found by Id, Name or UUID on the site's BMCs (the index is cached)."""
        host = self.hosts[host_id]
        cfg = self._site(host.site)
        if host_id not in self._systems:
            wanted = cfg.systems.get(host_id, host_id)
            for endpoint in cfg.endpoints:
                bmc = self._bmc(cfg, endpoint)
                for system in bmc_call(endpoint, lambda b=bmc: b.get_system_collection().get_members()):
                    if wanted in (system.identity, system.name, system.uuid):
                        self._systems[host_id] = (endpoint, system.path)
                        break
                if host_id in self._systems:
                    break
            else:
                raise PermanentFault(f"host {host_id}: no Redfish System {wanted!r} at the BMCs of site {host.site}")
        endpoint, path = self._systems[host_id]
        bmc = self._bmc(cfg, endpoint)
        return endpoint, bmc_call(endpoint, lambda: bmc.get_system(path))

    async def _read_power(self, host_id: str) -> sushy.PowerState:
        def read() -> sushy.PowerState:
            endpoint, system = self._system(host_id)
            return bmc_call(endpoint, lambda: system.power_state)

        return await asyncio.to_thread(read)

    async def _set_power(self, host_ids: list[str], target: sushy.PowerState, cfg: RedfishSite) -> None:
        """Ask every BMC first, then poll them all until the state is reached or the deadline passes."""

        def request(host_id: str) -> None:
            endpoint, system = self._system(host_id)
            if system.power_state != target:
                reset = sushy.ResetType.ON if target == ON else sushy.ResetType.FORCE_OFF
                bmc_call(endpoint, lambda: system.reset_system(reset))

        for host_id in host_ids:
            await asyncio.to_thread(request, host_id)
        deadline = time.monotonic() + cfg.power_timeout_seconds
        pending = list(host_ids)
        while True:
            pending = [h for h in pending if await self._read_power(h) != target]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise PermanentFault(
                    f"hosts {pending} did not reach power {target.value} within {cfg.power_timeout_seconds:g} s"
                )
            await asyncio.sleep(self.poll_seconds)

    async def _prepare_boot(self, host_id: str, cfg: RedfishSite) -> None:
        def act() -> None:
            endpoint, system = self._system(host_id)
            target = sushy.BootSource.PXE
            if cfg.boot == "virtual-media":
                cd = self._virtual_cd(endpoint, system)
                if cd.inserted and cd.image != cfg.image_url:
                    bmc_call(endpoint, cd.eject_media)
                if not cd.inserted or cd.image != cfg.image_url:
                    bmc_call(endpoint, lambda: cd.insert_media(cfg.image_url, inserted=True, write_protected=True))
                target = sushy.BootSource.CD
            once = sushy.BootSourceOverrideEnabled.ONCE
            bmc_call(endpoint, lambda: system.set_system_boot_options(target=target, enabled=once))

        await asyncio.to_thread(act)

    async def _eject(self, host_id: str) -> None:
        def act() -> None:
            endpoint, system = self._system(host_id)
            for media in self._virtual_media(endpoint, system):
                if media.inserted:
                    bmc_call(endpoint, media.eject_media)

        await asyncio.to_thread(act)

    def _virtual_media(self, endpoint: str, system) -> list:
        def members() -> list:
            return [m for manager in system.managers for m in manager.virtual_media.get_members()]

        return bmc_call(endpoint, members)

    def _virtual_cd(self, endpoint: str, system):
        for media in self._virtual_media(endpoint, system):
            if sushy.VirtualMediaType.CD in (media.media_types or []):
                return media
        raise PermanentFault(f"BMC {endpoint}: system {system.identity} has no virtual CD drive")
