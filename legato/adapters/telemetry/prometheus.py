"""Telemetry of a real site, read from its Prometheus over PromQL (`/api/v1/query`, evaluated at
the reading's `until`). The queries are in promql.py; this module asks them and assembles the
answers the protocol's contract asks for.

What Prometheus cannot see is None, never a guess:
- a workload with neither request series nor pod series: every figure None;
- a workload with pods but no request series (nothing counts its requests): its request rate,
  error rate and areas None; its CPU and ready replicas still known;
- an area's p95 when the topology states no latency from the area to the site: None (the figure is
  network plus time to be served, and the network part is the topology's, the one placement checks);
- health: only what Prometheus watches. A node's host is unhealthy, "node NotReady", when the
  node's Ready condition is not True (kube-state-metrics); `power` is None (the BMC is the PIM's,
  not Prometheus'), so a powered-off host reads "node NotReady" and a free host (no node) is not
  reported. A cluster whose API server's scrape fails (`up` 0 of `apiserver_job`) is "API
  unreachable"; one whose every node is NotReady, "every node NotReady". The site is "every host
  down" when every node it sees is NotReady.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict

import httpx

from legato.adapters.errors import InvalidRequest, PermanentFault, TransientFault
from legato.adapters.secrets import read_secret
from legato.adapters.telemetry.promql import Queries
from legato.adapters.wdm.tenancy import service_namespace
from legato.model import Site, Topology
from legato.model.telemetry import (
    AreaKpis,
    ClusterHealth,
    ComponentKpis,
    HealthReport,
    HostHealth,
    SiteHealth,
    WorkloadToMeasure,
)

Sample = tuple[dict[str, str], float]


class PrometheusTelemetry:
    """One site's Prometheus (`backend.prometheus` of its topology entry)."""

    def __init__(self, site: Site, topology: Topology) -> None:
        if site.backend.prometheus is None:
            raise InvalidRequest(f"site {site.id}: telemetry 'prometheus' needs a 'prometheus' section")
        self.site, self.topology, self.config = site, topology, site.backend.prometheus
        self.queries = Queries(self.config.labels)

    def _http(self) -> httpx.AsyncClient:
        """A client for one reading. The token is read from its reference each time (rotated
        without a restart) and lives only in the request's header."""
        headers = {}
        if self.config.token:
            headers["Authorization"] = f"Bearer {read_secret(self.config.token).get_secret_value()}"
        return httpx.AsyncClient(headers=headers, verify=self.config.verify_tls, timeout=self.config.timeout_seconds)

    async def _query(self, http: httpx.AsyncClient, expr: str, at: float) -> list[Sample]:
        """An instant vector: each series' labels and value (NaN dropped: no value)."""
        url = self.config.url.rstrip("/") + "/api/v1/query"
        where = f"Prometheus of site {self.site.id} ({self.config.url})"
        try:
            r = await http.post(url, data={"query": expr, "time": f"{at:.3f}"})
        except httpx.HTTPError as err:
            raise TransientFault(f"{where}: {type(err).__name__}") from None
        if r.status_code in (401, 403):
            raise PermanentFault(f"{where}: refused ({r.status_code}); check the token reference")
        if r.status_code == 429 or r.status_code >= 500:
            raise TransientFault(f"{where}: {r.status_code}")
        try:
            body = r.json()
        except ValueError:
            raise TransientFault(f"{where}: {r.status_code}, not a Prometheus answer") from None
        if body.get("status") != "success":
            # The query is Legato's: a refusal is a wrong label name in the site's configuration.
            raise PermanentFault(f"{where}: {body.get('errorType')}: {body.get('error')} (query {expr})")
        if body["data"]["resultType"] != "vector":
            raise PermanentFault(f"{where}: expected a vector, got {body['data']['resultType']} (query {expr})")
        samples = [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]
        return [(labels, value) for labels, value in samples if not math.isnan(value)]

    async def components(self, deployed: list[WorkloadToMeasure], window_seconds: float) -> list[ComponentKpis]:
        if window_seconds <= 0:
            raise InvalidRequest(f"window_seconds must be > 0, got {window_seconds}")
        until = time.time()
        by_cluster: dict[str, list[WorkloadToMeasure]] = defaultdict(list)
        for d in deployed:
            by_cluster[d.cluster].append(d)
        async with self._http() as http:
            readings = await asyncio.gather(*(self._cluster(http, cluster, ds, window_seconds, until)
                                              for cluster, ds in by_cluster.items()))  # fmt: skip
        found = {(d.cluster, d.workload_id): kpis for reading in readings for d, kpis in reading}
        return [found[(d.cluster, d.workload_id)] for d in deployed]

    async def _cluster(self, http: httpx.AsyncClient, cluster: str, deployed: list[WorkloadToMeasure],
                       window: float, until: float) -> list[tuple[WorkloadToMeasure, ComponentKpis]]:
        q, wl = self.queries, self.config.labels.workload
        workloads = [d.workload_id for d in deployed]
        namespaces = [service_namespace(d.service_id) for d in deployed]
        asked = (q.request_rates(cluster, workloads, window), q.error_rates(cluster, workloads, window),
                 q.latency_p95(cluster, workloads, window), q.cpu_used(cluster, namespaces, workloads, window),
                 q.cpu_requested_ready(cluster, namespaces, workloads), q.ready_pods(cluster, namespaces, workloads))
        rates, errors, p95, used, requested, ready = await asyncio.gather(
            *(self._query(http, expr, until) for expr in asked))

        def per_workload(samples: list[Sample]) -> dict[str, float]:
            return {labels.get(wl, ""): value for labels, value in samples}

        errors_of, used_of, requested_of, ready_of = map(per_workload, (errors, used, requested, ready))
        return [(d, self._kpis(d, window, until, rates, errors_of, p95, used_of, requested_of, ready_of))
                for d in deployed]  # fmt: skip

    def _kpis(self, d: WorkloadToMeasure, window: float, until: float, rates: list[Sample],
              errors: dict[str, float], p95: list[Sample], used: dict[str, float], requested: dict[str, float],
              ready: dict[str, float]) -> ComponentKpis:
        lb = self.config.labels
        kpis = ComponentKpis(service_id=d.service_id, component=d.component, cluster=d.cluster,
                             workload_id=d.workload_id, site=d.site, since=until - window, until=until)
        mine = d.workload_id
        area_rates = {labels.get(lb.area, ""): max(0.0, v) for labels, v in rates if labels.get(lb.workload) == mine}
        if not area_rates and d.workload_id not in ready:
            return kpis  # the source does not see it
        if d.workload_id in ready:
            kpis.ready_replicas = round(ready[d.workload_id])
        if kpis.ready_replicas and requested.get(d.workload_id) and d.workload_id in used:
            kpis.cpu_utilisation = max(0.0, used[d.workload_id]) / requested[d.workload_id]
        if not area_rates:
            return kpis
        total = sum(area_rates.values())
        kpis.request_rate_rps = total
        kpis.error_rate = min(1.0, errors.get(d.workload_id, 0.0) / total) if total > 0 else None
        served = {labels.get(lb.area, ""): v for labels, v in p95 if labels.get(lb.workload) == mine}
        kpis.areas = {area: AreaKpis(request_rate_rps=rate,
                                     latency_p95_ms=self._seen_from(area, d.site, served.get(area)))
                      for area, rate in area_rates.items() if area}  # fmt: skip
        return kpis

    def _seen_from(self, area: str, site: str, serving_seconds: float | None) -> float | None:
        """Network from the area to the site (the topology's) plus the time to be served."""
        if serving_seconds is None:
            return None
        try:
            network = self.topology.area_latency(area, site)
        except KeyError:
            return None
        return network + serving_seconds * 1000

    async def health(self, site: str | None = None) -> HealthReport:
        if site is not None and site != self.site.id:
            return HealthReport(at=time.time())
        at = time.time()
        lb = self.config.labels
        async with self._http() as http:
            nodes, api = await asyncio.gather(self._query(http, self.queries.node_ready(), at),
                                              self._query(http, self.queries.api_up(self.config.apiserver_job), at))
        nodes = sorted((s for s in nodes if s[0].get(lb.node)), key=lambda s: s[0][lb.node])
        hosts = [HostHealth(id=labels[lb.node], site=self.site.id, cluster=labels.get(lb.cluster), healthy=v == 1,
                            reason=None if v == 1 else "node NotReady") for labels, v in nodes]  # fmt: skip
        answers = {labels.get(lb.cluster): v == 1 for labels, v in api if labels.get(lb.cluster)}
        clusters = []
        for cluster in sorted(set(answers) | {h.cluster for h in hosts if h.cluster}):
            its = [h for h in hosts if h.cluster == cluster]
            reason = ("API unreachable" if not answers.get(cluster, True)
                      else "every node NotReady" if its and not any(h.healthy for h in its) else None)
            clusters.append(ClusterHealth(id=cluster, site=self.site.id, healthy=reason is None, reason=reason))
        down = bool(hosts) and not any(h.healthy for h in hosts)
        sites = [SiteHealth(id=self.site.id, healthy=not down, reason="every host down" if down else None)]
        return HealthReport(at=at, hosts=hosts, clusters=clusters, sites=sites)
