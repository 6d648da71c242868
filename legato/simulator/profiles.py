"""Latency profiles of the simulated continuum: `realistic` for people trying Legato (each step
takes long enough to watch), `instant` for tests and benchmarks (zero configured latency)."""

from legato.simulator import KINDS, SimContinuum

REALISTIC = {
    "pim.allocate": 1.5, "pim.release": 0.5,
    "mcm.create_cluster": 4.0, "mcm.add_nodes": 2.0, "mcm.remove_nodes": 1.0, "mcm.delete_cluster": 1.5,
    "wdm.deploy": 0.5, "wdm.scale": 0.3, "wdm.upgrade": 0.5, "wdm.remove": 0.3,
    "tcm.connect": 0.8, "tcm.set_qos": 0.5, "tcm.disconnect": 0.2, "tcm.clear_qos": 0.2,
}
REALISTIC_READY_DELAY = 3.0
PROFILES = ("realistic", "instant")


def apply_profile(sim: SimContinuum, profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"LEGATO_SIM_PROFILE must be one of {PROFILES}, not {profile!r}")
    realistic = profile == "realistic"
    for kind in sorted(KINDS):
        sim.set_latency(kind, REALISTIC.get(kind, 0.0) if realistic else 0.0)
    sim.set_ready_delay(REALISTIC_READY_DELAY if realistic else 0.0)
