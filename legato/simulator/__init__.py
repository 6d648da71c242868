"""The simulated continuum behind the `sim` backends: hosts, clusters, workloads and connections.

It plays the external systems (PIM, MCM, WDM, TCM), so its state lives in its own SQLite file:
it survives worker restarts and is shared by every process that opens the file. Mutating calls
dedup on their operation id; latencies, faults and error rates are stored in the file too, so a
test process can inject them into a running worker. Replicas and connections are kept as history,
so `serving()` can tell afterwards whether a day-2 change kept the service up. The parts are
the modules of this package, one per manager, on one store (store.py, schema.py).
"""

from legato.simulator.continuum import SimContinuum
from legato.simulator.history import ServingReport
from legato.simulator.store import KINDS

__all__ = ["KINDS", "ServingReport", "SimContinuum"]
