"""Choose the backend of each manager from configuration: the embedded `sim` everywhere, and at
each site whatever its topology entry names (`backend: {pim: redfish, mcm: kwok, wdm: kubernetes}`)."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from legato.adapters.mcm import MCM
from legato.adapters.pim import PIM
from legato.adapters.tcm import TCM
from legato.adapters.telemetry import Telemetry
from legato.adapters.wdm import WDM
from legato.config import Settings
from legato.model import Topology
from legato.topology_loader import load_topology


@dataclass
class Adapters:
    pim: PIM
    mcm: MCM
    wdm: WDM
    tcm: TCM
    telemetry: Telemetry


@functools.lru_cache(maxsize=8)
def _topology(path: Path, mtime: float) -> Topology:
    return load_topology(path)


def build_adapters(settings: Settings) -> Adapters:
    """Sim-only continua get the sim adapters themselves (no routing layer in the way)."""
    from legato.adapters.mcm.sim import SimMCM
    from legato.adapters.pim.sim import SimPIM
    from legato.adapters.tcm.sim import SimTCM
    from legato.adapters.telemetry.sim import SimTelemetry
    from legato.adapters.wdm.sim import SimWDM
    from legato.simulator import SimContinuum

    continuum = SimContinuum(settings.sim_path)
    sim = Adapters(SimPIM(continuum), SimMCM(continuum), SimWDM(continuum), SimTCM(continuum),
                   SimTelemetry(continuum))
    topology = _topology(settings.topology, settings.topology.stat().st_mtime)
    real = [s for s in topology.sites.values()
            if (s.backend.pim, s.backend.mcm, s.backend.telemetry) != ("sim", "sim", "sim")]
    if not real:
        return sim
    return _routed(settings, topology, sim)


def _routed(settings: Settings, topology: Topology, sim: Adapters) -> Adapters:
    from legato.adapters.mcm.clusterapi import ClusterAPIMCM
    from legato.adapters.mcm.kubeconfig import KubeconfigMCM
    from legato.adapters.mcm.kwok import KwokMCM
    from legato.adapters.pim.redfish import RedfishPIM
    from legato.adapters.routing import BySite, RoutedMCM, RoutedPIM, RoutedWDM
    from legato.adapters.wdm.exposure import Publications
    from legato.adapters.wdm.kubernetes import KubernetesWDM

    def sites(role: str, name: str) -> list:
        return [s for s in topology.sites.values() if getattr(s.backend, role) == name]

    pims: dict[str, PIM] = {}
    if redfish := sites("pim", "redfish"):
        pim = RedfishPIM(redfish, settings.data_dir / "redfish.db")
        pims = {s.id: pim for s in redfish}
    mcms: dict[str, MCM] = {}
    if kwok := sites("mcm", "kwok"):
        mcm = KwokMCM(kwok, settings.testbed_bin_dir, settings.data_dir / "kwok")
        mcms |= {s.id: mcm for s in kwok}
    if registered := sites("mcm", "kubeconfig"):
        mcm = KubeconfigMCM(registered)
        mcms |= {s.id: mcm for s in registered}
    mcms |= {s.id: ClusterAPIMCM(s) for s in sites("mcm", "clusterapi")}  # each site its management cluster
    routed_mcm = RoutedMCM(BySite(sim.mcm, mcms), topology)
    return Adapters(
        pim=RoutedPIM(BySite(sim.pim, pims), topology),
        mcm=routed_mcm,
        wdm=RoutedWDM(sim.wdm, KubernetesWDM(routed_mcm, Publications(list(topology.sites.values()), routed_mcm)),
                      routed_mcm),
        tcm=sim.tcm,
        telemetry=_telemetry(topology, sim.telemetry),
    )


def _telemetry(topology: Topology, sim: Telemetry) -> Telemetry:
    """Per site, as the other managers: `prometheus` sites read their own server, the rest the sim
    (a real site left on `sim` gets None for its workloads, which the simulator does not hold)."""
    from legato.adapters.routing import BySite, RoutedTelemetry
    from legato.adapters.telemetry.prometheus import PrometheusTelemetry

    prometheus = {s.id: PrometheusTelemetry(s, topology) for s in topology.sites.values()
                  if s.backend.telemetry == "prometheus"}  # fmt: skip
    return RoutedTelemetry(BySite(sim, prometheus)) if prometheus else sim


def start_shared_clusters(settings: Settings) -> list[str]:
    """Start the topology's clusters at kwok and clusterapi sites (a no-op for those running).
    Called where the continuum is prepared; runs its own event loop in a thread, so it works under
    a running one."""
    from legato.adapters.mcm.clusterapi import ClusterAPIMCM
    from legato.adapters.mcm.kwok import KwokMCM

    topology = _topology(settings.topology, settings.topology.stat().st_mtime)
    sites = [s for s in topology.sites.values() if s.backend.mcm == "kwok"]
    mcms: list = [KwokMCM(sites, settings.testbed_bin_dir, settings.data_dir / "kwok")] if any(
        s.clusters for s in sites) else []  # fmt: skip
    mcms += [ClusterAPIMCM(s) for s in topology.sites.values() if s.backend.mcm == "clusterapi" and s.clusters]
    with ThreadPoolExecutor(1) as pool:
        return [c.id for mcm in mcms for c in pool.submit(asyncio.run, mcm.start_shared_clusters()).result()]
