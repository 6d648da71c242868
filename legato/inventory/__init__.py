"""Inventory: the Telco Cloud Resource Repository (sites, hosts, clusters, latencies) and the
Telco Cloud Workload Inventory (services, components, connections, operations log).

Written only by activities; the API reads it.
"""

from legato.inventory.db import open_engine
from legato.inventory.repository import Inventory

__all__ = ["Inventory", "open_engine"]
