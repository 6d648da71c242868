"""The Prometheus source without a Prometheus: the PromQL it asks (label names from the site's
configuration, values quoted, workload regexes exact), how answers become KPIs (what it cannot see
is None), and its token's path (a stand-in HTTP server). The queries run against a real Prometheus
in tests/contract/test_telemetry_contract.py."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from legato.adapters.errors import InvalidRequest, PermanentFault, TransientFault
from legato.adapters.registry import _telemetry
from legato.adapters.routing import BySite, RoutedTelemetry
from legato.adapters.telemetry.prometheus import PrometheusTelemetry
from legato.adapters.telemetry.promql import Queries, duration, one_of, quoted
from legato.devserver import free_port
from legato.model.backends import PrometheusLabels
from legato.model.telemetry import ComponentKpis, HealthReport, SiteHealth, WorkloadToMeasure
from legato.topology_loader import TopologyError, parse_topology

SITE = {"id": "edge-p", "tier": "edge", "provider": "p", "region": "r", "country": "FR", "lat": 45, "lon": 5,
        "cost_per_vcpu_hour": 0.1, "hosts": [{"id": "h1", "cpu": 8, "memory_mb": 8192}]}  # fmt: skip
PROM = {"telemetry": "prometheus", "prometheus": {"url": "http://prometheus.example:9090", "token": "env:PROM_TOKEN"}}


def topology(backend=PROM):
    lyon = {"id": "lyon", "lat": 45, "lon": 5}
    return parse_topology({"sites": [{**SITE, "backend": backend}], "areas": [lyon],
                           "latency": {"areas": [{"area": "lyon", "site": "edge-p", "ms": 4.0}]}}, "t.yaml")


def test_the_label_names_are_the_sites_and_values_are_quoted_and_exact():
    q = Queries(PrometheusLabels(workload="app", area="region", cluster="k8s_cluster"))
    expr = q.request_rates('c"1', ["web-ab12", "db-cd34"], 2.5)
    assert expr == ('sum by (app, region) (rate(http_requests_total{k8s_cluster="c\\"1",'
                    'app=~"db\\\\-cd34|web\\\\-ab12"}[2500ms]))')
    assert 'code=~"5.."' in q.error_rates("c", ["w"], 1) and "sum by (app)" in q.error_rates("c", ["w"], 1)
    assert q.latency_p95("c", ["w"], 1).startswith("histogram_quantile(0.95, sum by (app, region, le) (rate(")


def test_pod_series_are_read_per_workload_off_the_pods_name_in_the_services_namespace():
    q = Queries(PrometheusLabels())
    used = q.cpu_used("c", ["legato-svc"], ["web-ab12"], 4)
    assert 'pod=~"(web\\\\-ab12)-[a-z0-9]+-[a-z0-9]+"' in used and 'namespace=~"legato\\\\-svc"' in used
    assert 'container!=""' in used  # the pod-level series would count the CPU twice
    assert used.startswith('sum by (workload) (label_replace(rate(container_cpu_usage_seconds_total{')
    assert '"workload", "$1", "pod", "(.+)-[a-z0-9]+-[a-z0-9]+"))' in used
    requested = q.cpu_requested_ready("c", ["ns"], ["w"])
    assert 'resource="cpu"' in requested and "and on(cluster, namespace, pod) (kube_pod_status_ready{" in requested
    assert requested.endswith(' == 1), "workload", "$1", "pod", "(.+)-[a-z0-9]+-[a-z0-9]+"))')


def test_helpers():
    assert quoted('a\\b"c') == '"a\\\\b\\"c"'
    assert one_of(["b", "a.b", "b"]) == "a\\.b|b"
    assert duration(0.0001) == "1ms" and duration(30) == "30000ms"


def kpis(**answers):
    """The KPIs of workload web-1 (service svc, entry for lyon) from these query answers."""
    topo = topology()
    source = PrometheusTelemetry(topo.sites["edge-p"], topo)
    d = WorkloadToMeasure(service_id="svc", component="web", cluster="c", workload_id="web-1", site="edge-p")
    return source._kpis(d, 10, 1000.0, answers.get("rates", []), answers.get("errors", {}), answers.get("p95", []),
                        answers.get("used", {}), answers.get("requested", {}), answers.get("ready", {}))


def test_what_prometheus_does_not_see_is_none():
    unseen = kpis(rates=[({"workload": "other", "area": "lyon"}, 3.0)])
    assert (unseen.request_rate_rps, unseen.error_rate, unseen.cpu_utilisation, unseen.ready_replicas) == (
        None, None, None, None)
    assert (unseen.since, unseen.until) == (990.0, 1000.0)
    uncounted = kpis(ready={"web-1": 2.0}, used={"web-1": 0.5}, requested={"web-1": 1.0})
    assert (uncounted.ready_replicas, uncounted.cpu_utilisation) == (2, 0.5)
    assert (uncounted.request_rate_rps, uncounted.error_rate, uncounted.areas) == (None, None, {})


def test_requests_per_area_with_the_network_from_the_topology_under_the_latency():
    k = kpis(rates=[({"workload": "web-1", "area": "lyon"}, 6.0), ({"workload": "web-1", "area": "nowhere"}, 2.0)],
             errors={"web-1": 2.0}, ready={"web-1": 1.0}, used={"web-1": 0.9}, requested={"web-1": 0.5},
             p95=[({"workload": "web-1", "area": "lyon"}, 0.02), ({"workload": "web-1", "area": "nowhere"}, 0.02)])
    assert (k.request_rate_rps, k.error_rate, k.cpu_utilisation) == (8.0, 0.25, pytest.approx(1.8))
    assert k.areas["lyon"].latency_p95_ms == pytest.approx(24.0)
    assert k.areas["nowhere"].latency_p95_ms is None  # an area the topology does not know: no guess


def test_nothing_ready_every_request_failed_and_no_latency():
    k = kpis(rates=[({"workload": "web-1", "area": "lyon"}, 5.0)], errors={"web-1": 5.0}, ready={"web-1": 0.0},
             used={"web-1": 0.0}, requested={})
    assert (k.ready_replicas, k.error_rate, k.cpu_utilisation, k.areas["lyon"].latency_p95_ms) == (0, 1.0, None, None)
    idle = kpis(rates=[({"workload": "web-1", "area": "lyon"}, 0.0)], ready={"web-1": 1.0})
    assert (idle.request_rate_rps, idle.error_rate) == (0.0, None)


async def test_a_window_must_be_positive():
    topo = topology()
    with pytest.raises(InvalidRequest):
        await PrometheusTelemetry(topo.sites["edge-p"], topo).components([], 0)


def test_a_prometheus_site_needs_its_section_and_is_routed_to_its_source():
    with pytest.raises(TopologyError, match="telemetry 'prometheus' needs a 'prometheus' section"):
        topology({"telemetry": "prometheus"})
    with pytest.raises(TopologyError, match="token"):
        topology({**PROM, "prometheus": {"url": "http://p", "tokens": "x"}})
    routed = _telemetry(topology(), sim=object())
    assert isinstance(routed, RoutedTelemetry) and isinstance(routed.backends.of("edge-p"), PrometheusTelemetry)
    assert routed.backends.of("elsewhere") is routed.backends.default


class Answering:
    """A source that names itself in each answer's workload, and reports its site healthy."""

    def __init__(self, name: str, site: str) -> None:
        self.name, self.site = name, site

    async def components(self, deployed, window_seconds):
        return [ComponentKpis(service_id=d.service_id, component=self.name, cluster=d.cluster,
                              workload_id=d.workload_id, site=d.site, since=0, until=window_seconds)
                for d in deployed]  # fmt: skip

    async def health(self, site=None):
        return HealthReport(at=1.0, sites=[SiteHealth(id=s, healthy=True) for s in ("edge-p", "edge-s")])


async def test_the_router_asks_each_sites_source_and_answers_in_the_order_asked():
    router = RoutedTelemetry(BySite(Answering("sim", "edge-s"), {"edge-p": Answering("prometheus", "edge-p")}))
    asked = [WorkloadToMeasure(service_id="svc", component="c", cluster="k", workload_id=f"w{i}", site=site)
             for i, site in enumerate(["edge-s", "edge-p", "edge-s"])]  # fmt: skip
    answers = await router.components(asked, 5)
    assert [(a.workload_id, a.component) for a in answers] == [("w0", "sim"), ("w1", "prometheus"), ("w2", "sim")]
    with pytest.raises(InvalidRequest):
        await router.components(asked, 0)
    report = await router.health()  # each site once, from its own source
    assert sorted(s.id for s in report.sites) == ["edge-p", "edge-s"]


@pytest.fixture
def prometheus_api():
    """A server answering /api/v1/query as Prometheus does (an empty vector), 401 without the token
    `s3cret-token`; it records the queries asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            asked.append(form["query"][0])
            ok = self.headers.get("Authorization") == "Bearer s3cret-token"
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}) if ok else ""
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()


def source(url: str, token: str) -> PrometheusTelemetry:
    topo = topology({"telemetry": "prometheus", "prometheus": {"url": url, "token": token}})
    return PrometheusTelemetry(topo.sites["edge-p"], topo)


async def test_the_token_is_read_by_reference_sent_and_never_in_an_error(prometheus_api, monkeypatch, tmp_path):
    url, asked = prometheus_api
    monkeypatch.setenv("PROM_TOKEN", "s3cret-token")
    d = WorkloadToMeasure(service_id="svc", component="web", cluster="c", workload_id="web-1", site="edge-p")
    [kpis] = await source(url, "env:PROM_TOKEN").components([d], 10)
    assert kpis.request_rate_rps is None and len(asked) == 6  # six figures, one query each
    wrong = tmp_path / "token"
    wrong.write_text("not-the-token\n")
    with pytest.raises(PermanentFault) as refused:
        await source(url, f"file:{wrong}").health()
    assert "401" in str(refused.value) and "not-the-token" not in str(refused.value)
    with pytest.raises(TransientFault):
        await source(f"http://127.0.0.1:{free_port()}", "env:PROM_TOKEN").health()
