"""Every TMF router the API mounts."""

from legato.api.tmf import catalog, hub, inventory, ordering

routers = [catalog.router, ordering.router, inventory.router, *hub.routers]
