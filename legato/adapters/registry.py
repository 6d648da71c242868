"""Choose the backend of each manager from configuration."""

from __future__ import annotations

from dataclasses import dataclass

from legato.adapters.mcm import MCM
from legato.adapters.pim import PIM
from legato.adapters.tcm import TCM
from legato.adapters.wdm import WDM
from legato.config import Settings


@dataclass
class Adapters:
    pim: PIM
    mcm: MCM
    wdm: WDM
    tcm: TCM


def build_adapters(settings: Settings) -> Adapters:
    """Only the embedded `sim` backends exist so far (real ones are a later issue)."""
    from legato.adapters.mcm.sim import SimMCM
    from legato.adapters.pim.sim import SimPIM
    from legato.adapters.sim_continuum import SimContinuum
    from legato.adapters.tcm.sim import SimTCM
    from legato.adapters.wdm.sim import SimWDM

    continuum = SimContinuum(settings.sim_path)
    return Adapters(SimPIM(continuum), SimMCM(continuum), SimWDM(continuum), SimTCM(continuum))
