"""TM Forum Open APIs v4.0.0 (TMF633, TMF638, TMF641) mapped onto Legato's workflows."""

from legato.api.tmf import catalog, hub, inventory, ordering

routers = [catalog.router, ordering.router, inventory.router, *hub.routers]

__all__ = ["routers"]
