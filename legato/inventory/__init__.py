"""Inventory: the Telco Cloud Resource Repository (sites, hosts, clusters, latencies, reservations
and claims), the Telco Cloud Workload Inventory (services, components, connections, operations
log, findings) and the records the API owns (TMF, proposals, federation), split by owner; the
`Inventory` facade (facade.py) holds them all.

Resources and workloads are written by activities; the API writes only the records it owns
(see docs/design.md, "Who writes what in the inventory").
"""

from legato.inventory.db import open_engine
from legato.inventory.facade import Inventory

__all__ = ["Inventory", "open_engine"]
