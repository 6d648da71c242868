"""`Inventory`: the one object activities and the API hold, every owner's records over one engine.

Each owner's records live in their own module and class, each a `Store` that writes its own tables:

| owner | module | tables |
|---|---|---|
| TCRR, the continuum | resources.py | sites, areas, latencies, hosts, clusters, meta, site_versions |
| TCRR, what placements hold | reservations.py | reservations, node_claims, link_claims (and hosts' `reserved` state) |
| TCRR, who operates a cluster | cluster_operations.py | cluster_operations (an upgrade, alone), cluster_scalings |
| TCWI | workloads.py | services, components, connections, operations, service_operations, findings |
| API records: proposals | proposals.py | proposals |
| API records: federation | federation.py | federated_parts, federation_nonces |
| API records: maintenance windows | maintenance.py | maintenance_windows |
| API records: the operator's autopilot policy | autopilot_policy.py | autopilot_policy |
| the autopilot's samples and measures | measures.py | kpi_samples, measures |
| API records: where the users are | user_locations.py | user_location_reports |
| API records: TMF | tmf.py (`TmfRecords`, over this facade) | tmf_* (catalog, orders, hubs, events...) |

A write that spans owners is composed here, in one transaction: a cluster deleted takes the
components that ran on it; a component or a connection removed gives back the room or the
bandwidth it held. Who writes each table is said in docs/design.md ("Who writes what")."""

from __future__ import annotations

from legato.inventory.autopilot_policy import AutopilotPolicyRecords
from legato.inventory.cluster_operations import ClusterOperations
from legato.inventory.federation import FederationRecords
from legato.inventory.maintenance import MaintenanceRecords
from legato.inventory.measures import MeasureRecords
from legato.inventory.proposals import ProposalRecords
from legato.inventory.reservations import Reservations
from legato.inventory.resources import Resources
from legato.inventory.user_locations import LocationRecords
from legato.inventory.workloads import Workloads


class Inventory(Resources, Reservations, ClusterOperations, Workloads, ProposalRecords, FederationRecords,
                MaintenanceRecords, AutopilotPolicyRecords, MeasureRecords, LocationRecords):
    def cluster_deleted(self, cluster_id: str) -> None:
        with self.session():
            Resources.cluster_deleted(self, cluster_id)
            self.components_gone_with(cluster_id)

    def component_removed(self, service_id: str, name: str, workload_id: str | None = None) -> None:
        with self.session():
            Workloads.component_removed(self, service_id, name, workload_id)
            if workload_id is not None:
                self.workload_gone(workload_id)

    def connection_removed(self, connection_id: str) -> None:
        with self.session():
            Workloads.connection_removed(self, connection_id)
            self.link_freed(connection_id)
