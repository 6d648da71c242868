"""The Telco Cloud Workload Inventory: services, their components, connections, the operations log,
day-2 operation records and reconciliation's findings. Written by the activities of the service
workflows (and reconcile); read by the API, reconcile and the rebalancer. A change of a service's
TMF state writes its TMF event in the same transaction (outbox.py)."""

from __future__ import annotations

from sqlalchemy.orm import defer
from sqlmodel import col, delete, func, select

from legato.inventory import outbox
from legato.inventory.paging import page
from legato.inventory.store import Store
from legato.inventory.tables import (
    ComponentRow,
    ConnectionRow,
    FindingRow,
    OperationRow,
    ServiceOperationRow,
    ServiceRow,
    utcnow,
)
from legato.model import ServiceSpec
from legato.model.status import TERMINAL_STATES, ServiceState


class Workloads(Store):
    # --- writes, by the activities of the service workflows --------------------------------------

    def service_accepted(self, spec: ServiceSpec) -> None:
        with self.session() as s:
            if s.get(ServiceRow, spec.id) is None:
                row = ServiceRow(id=spec.id, tenant=spec.tenant, name=spec.name, state=ServiceState.accepted,
                                 spec=spec.model_dump(mode="json", by_alias=True))
                s.add(row)
                outbox.service_changed(s, self.public_url, row, None)

    def service_updated(self, service_id: str, **fields) -> None:
        with self.session() as s:
            row = s.get(ServiceRow, service_id)
            if row is None:
                return
            old_state = row.state
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            s.add(row)
            outbox.service_changed(s, self.public_url, row, old_state)

    def component_deployed(self, row: ComponentRow) -> None:
        with self.session() as s:
            s.merge(row)

    def component_removed(self, service_id: str, name: str, workload_id: str | None = None) -> None:
        """Forget a component's workload; not if the row already names another one (a move wrote
        the target before removing the source). (The facade also drops the room it ran on.)"""
        with self.session() as s:
            row = s.get(ComponentRow, (service_id, name))
            if row is not None and (workload_id is None or row.workload_id == workload_id):
                s.delete(row)

    def component_changed(self, service_id: str, name: str, **fields) -> None:
        with self.session() as s:
            row = s.get(ComponentRow, (service_id, name))
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)
                s.add(row)

    def components_gone_with(self, cluster_id: str) -> None:
        """A cluster deleted: the components that ran on it run no more."""
        with self.session() as s:
            s.exec(delete(ComponentRow).where(col(ComponentRow.cluster) == cluster_id))

    def operation_recorded(self, row: ServiceOperationRow) -> None:
        with self.session() as s:
            s.merge(row)

    def connection_made(self, row: ConnectionRow) -> None:
        with self.session() as s:
            s.merge(row)

    def connection_removed(self, connection_id: str) -> None:
        """Forget a connection (the facade also frees the bandwidth its link held)."""
        with self.session() as s:
            row = s.get(ConnectionRow, connection_id)
            if row is not None:
                s.delete(row)

    def log(self, service_id: str, op_id: str, step: str, outcome: str, detail: str = "") -> None:
        with self.session() as s:
            s.add(OperationRow(service_id=service_id, op_id=op_id, step=step, outcome=outcome, detail=detail))

    def findings_seen(self, rows: list[FindingRow]) -> None:
        """Record one scan: new findings appear, seen ones are refreshed, the rest are resolved."""
        now = utcnow()
        seen = {r.id for r in rows}
        with self.session() as s:
            for row in rows:
                old = s.get(FindingRow, row.id)
                if old is None or old.resolved_at is not None:
                    s.merge(row.model_copy(update={"first_seen": now, "last_seen": now, "resolved_at": None}))
                else:
                    old.last_seen, old.detail, old.action = now, row.detail, row.action
            for old in s.exec(select(FindingRow).where(col(FindingRow.resolved_at).is_(None))):
                if old.id not in seen:
                    old.resolved_at = now

    # --- reads ---------------------------------------------------------------------------------

    def services(self, tenant: str | None, offset: int = 0, limit: int = 100,
                 brief: bool = False) -> tuple[list[ServiceRow], int]:
        """Newest first. `brief`: without the spec, placement and endpoints (a list page needs none of
        them; they are most of a row's bytes)."""
        options = [defer(ServiceRow.spec), defer(ServiceRow.placement), defer(ServiceRow.endpoints)] if brief else []
        with self.session() as s:
            return page(s, ServiceRow, [col(ServiceRow.created_at).desc(), col(ServiceRow.id).desc()], offset, limit,
                        options, tenant=tenant)

    def service(self, service_id: str) -> ServiceRow | None:
        with self.session() as s:
            return s.get(ServiceRow, service_id)

    def component(self, service_id: str, name: str) -> ComponentRow | None:
        with self.session() as s:
            return s.get(ComponentRow, (service_id, name))

    def cluster_components(self, cluster_id: str) -> list[ComponentRow]:
        with self.session() as s:
            return list(s.exec(select(ComponentRow).where(ComponentRow.cluster == cluster_id)))

    def components(self, service_id: str) -> list[ComponentRow]:
        with self.session() as s:
            return list(s.exec(select(ComponentRow).where(ComponentRow.service_id == service_id)))

    def connections(self, service_id: str) -> list[ConnectionRow]:
        with self.session() as s:
            return list(s.exec(select(ConnectionRow).where(ConnectionRow.service_id == service_id)))

    def operations(self, service_id: str) -> list[OperationRow]:
        with self.session() as s:
            return list(
                s.exec(select(OperationRow).where(OperationRow.service_id == service_id).order_by(OperationRow.id))
            )

    def service_operations(self, service_id: str) -> list[ServiceOperationRow]:
        with self.session() as s:
            query = select(ServiceOperationRow).where(ServiceOperationRow.service_id == service_id)
            return list(s.exec(query.order_by(col(ServiceOperationRow.started_at))))

    def service_operation(self, request_id: str) -> ServiceOperationRow | None:
        with self.session() as s:
            return s.get(ServiceOperationRow, request_id)

    def findings(self, open_only: bool = True, tenant: str | None = None) -> list[FindingRow]:
        """`tenant`: only the findings on that tenant's services (None: every finding)."""
        with self.session() as s:
            query = select(FindingRow)
            if open_only:
                query = query.where(col(FindingRow.resolved_at).is_(None))
            if tenant is not None:
                query = query.where(col(FindingRow.service_id).in_(
                    select(ServiceRow.id).where(ServiceRow.tenant == tenant)))
            return list(s.exec(query.order_by(col(FindingRow.first_seen))))

    def count_services_by_state(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.exec(select(ServiceRow.state, func.count()).group_by(ServiceRow.state)).all()
        return {state: count for state, count in rows}

    def operation_outcomes(self) -> list[tuple[str, str, float | None]]:
        with self.session() as s:
            query = select(ServiceOperationRow.kind, ServiceOperationRow.state, ServiceOperationRow.duration_seconds)
            return [tuple(r) for r in s.exec(query).all()]

    def active_service_ids(self) -> set[str]:
        with self.session() as s:
            return set(s.exec(select(ServiceRow.id).where(ServiceRow.state == ServiceState.active)))

    def all_components(self) -> list[ComponentRow]:
        with self.session() as s:
            return list(s.exec(select(ComponentRow)))

    def live_service_ids(self) -> set[str]:
        with self.session() as s:
            terminal = [str(x) for x in TERMINAL_STATES]
            return set(s.exec(select(ServiceRow.id).where(col(ServiceRow.state).not_in(terminal))))

    def running_services(self) -> list[tuple[ServiceSpec, dict[str, str]]]:
        """Active services (none with an operation under way) with where each component runs."""
        with self.session() as s:
            services = list(s.exec(select(ServiceRow).where(ServiceRow.state == ServiceState.active)
                                   .order_by(ServiceRow.id)))
            sites: dict[str, dict[str, str]] = {}
            for c in s.exec(select(ComponentRow).where(col(ComponentRow.service_id).in_([r.id for r in services]))):
                sites.setdefault(c.service_id, {})[c.name] = c.site
        return [(ServiceSpec.model_validate(r.spec), sites[r.id]) for r in services if r.id in sites]

    # --- lookups by key or by tenant, never a whole table ----------------------------------------

    def tenants_of(self, service_ids: set[str]) -> dict[str, str]:
        """The tenant of each of these services that exists."""
        if not service_ids:
            return {}
        with self.session() as s:
            return dict(s.exec(select(ServiceRow.id, ServiceRow.tenant).where(
                col(ServiceRow.id).in_(sorted(service_ids)))).all())

    def live_services(self, tenant: str) -> list[ServiceRow]:
        """A tenant's services not terminated or failed (what its quota counts)."""
        with self.session() as s:
            terminal = [str(x) for x in TERMINAL_STATES]
            return list(s.exec(select(ServiceRow).where(ServiceRow.tenant == tenant,
                                                        col(ServiceRow.state).not_in(terminal))))
