"""What Prometheus scrapes in the test bed, for one kwok cluster: the series a real cluster's
exporters serve, about the cluster's Legato workloads (pods labelled `legato.io/workload`).

kwok pods run nothing, so nothing counts their requests: this exporter stands where a real
cluster's instrumentation does, and the test sets the load it counts (`POST /load`):

- as an ingress would, `http_requests_total{namespace, workload, area, code}` and the
  `http_request_duration_seconds` histogram per area, for every request arriving for a workload:
  served (200, in the set time) while a replica is ready, refused (503, no duration: nothing
  served it) while none is;
- as cAdvisor would, `container_cpu_usage_seconds_total{namespace, pod, container}`: each served
  request costs the set CPU seconds, shared by the ready pods;
- as kube-state-metrics would, from the cluster's API at each scrape:
  `kube_pod_container_resource_requests{resource="cpu"}`, `kube_pod_status_ready` and
  `kube_node_status_condition{condition="Ready"}`. With the API out of reach the scrape fails
  (503), as kube-state-metrics' own does not, so its series go stale rather than lie.

Counters advance at each scrape by the load times the time since the last one (a load is a rate
until it is changed). `GET /load` reads the loads back.

    python -m tests.real.workload_exporter --kubeconfig K --port P
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kubernetes import client, config

WORKLOAD = "legato.io/workload"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Load:
    """The users' requests to one workload: per area, requests per second; each served in
    `serving_ms` and costing `cpu_seconds` of CPU."""

    areas: dict[str, float]
    serving_ms: float = 10.0
    cpu_seconds: float = 0.01


@dataclass
class Counted:
    """What one workload's requests have added up to."""

    namespace: str = ""
    requests: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))  # (area, code)
    buckets: dict[str, list[float]] = field(default_factory=dict)  # area -> count per bucket, then +Inf
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # area -> sum of durations


def pod_ready(pod: client.V1Pod) -> bool:
    if pod.metadata.deletion_timestamp is not None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def cpu_cores(quantity: str | None) -> float:
    if not quantity:
        return 0.0
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def series(name: str, labels: dict[str, str], value: float) -> str:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{text}}} {value!r}"


TYPES = {"http_requests_total": "counter", "http_request_duration_seconds": "histogram",
         "container_cpu_usage_seconds_total": "counter", "kube_pod_status_ready": "gauge",
         "kube_pod_container_resource_requests": "gauge", "kube_node_status_condition": "gauge"}  # fmt: skip


def exposition(lines: list[str]) -> str:
    """The text format: each family's samples together, under its TYPE line."""
    families: dict[str, list[str]] = {name: [] for name in TYPES}
    for line in lines:
        name = line.split("{", 1)[0]
        family = next(f for f in TYPES if name == f or name.startswith(f + "_"))
        families[family].append(line)
    return "".join(f"# TYPE {f} {TYPES[f]}\n" + "".join(line + "\n" for line in samples)
                   for f, samples in families.items() if samples)  # fmt: skip


class Exporter:
    def __init__(self, core: client.CoreV1Api) -> None:
        self.core = core
        self.lock = threading.Lock()
        self.loads: dict[str, Load] = {}
        self.counted: dict[str, Counted] = defaultdict(Counted)
        self.cpu: dict[tuple[str, str, str], float] = defaultdict(float)  # (namespace, pod, container) -> s
        self.last = time.time()

    def set_load(self, workload: str, load: Load | None) -> None:
        with self.lock:
            self.loads.pop(workload, None)
            if load is not None:
                self.loads[workload] = load

    def scrape(self) -> str:
        """The exposition text, the counters advanced to now (raises if the API does not answer)."""
        pods = self.core.list_pod_for_all_namespaces(label_selector=WORKLOAD, _request_timeout=2).items
        nodes = self.core.list_node(_request_timeout=2).items
        with self.lock:
            now = time.time()
            self._advance(pods, now - self.last)
            self.last = now
            return exposition(self._requests() + self._pods(pods) + self._nodes(nodes))

    def _advance(self, pods: list[client.V1Pod], dt: float) -> None:
        for workload, load in self.loads.items():
            mine = [p for p in pods if p.metadata.labels.get(WORKLOAD) == workload]
            ready = [p for p in mine if pod_ready(p)]
            counted = self.counted[workload]
            counted.namespace = mine[0].metadata.namespace if mine else counted.namespace
            served = 0.0
            for area, rps in load.areas.items():
                n = rps * dt
                buckets = counted.buckets.setdefault(area, [0.0] * (len(BUCKETS) + 1))
                if not ready:
                    counted.requests[(area, "503")] += n
                    continue
                counted.requests[(area, "200")] += n
                served += n
                seconds = load.serving_ms / 1000
                for i, le in enumerate(BUCKETS):
                    if seconds <= le:
                        buckets[i] += n
                buckets[-1] += n
                counted.seconds[area] += n * seconds
            for pod in ready:
                for container in pod.spec.containers:
                    key = (pod.metadata.namespace, pod.metadata.name, container.name)
                    self.cpu[key] += served * load.cpu_seconds / len(ready) / len(pod.spec.containers)

    def _requests(self) -> list[str]:
        out = []
        for workload, counted in self.counted.items():
            where = {"namespace": counted.namespace, "workload": workload}
            for (area, code), n in sorted(counted.requests.items()):
                out.append(series("http_requests_total", {**where, "area": area, "code": code}, n))
            for area, buckets in sorted(counted.buckets.items()):
                for le, n in zip([*map(str, BUCKETS), "+Inf"], buckets, strict=True):
                    out.append(series("http_request_duration_seconds_bucket", {**where, "area": area, "le": le}, n))
                out.append(series("http_request_duration_seconds_sum", {**where, "area": area}, counted.seconds[area]))
                out.append(series("http_request_duration_seconds_count", {**where, "area": area}, buckets[-1]))
        return out

    def _pods(self, pods: list[client.V1Pod]) -> list[str]:
        out = []
        for pod in pods:
            ns, name = pod.metadata.namespace, pod.metadata.name
            ready = pod_ready(pod)
            for condition in ("true", "false"):
                value = 1.0 if ready == (condition == "true") else 0.0
                at = {"namespace": ns, "pod": name, "condition": condition}
                out.append(series("kube_pod_status_ready", at, value))
            for container in pod.spec.containers:
                at = {"namespace": ns, "pod": name, "container": container.name}
                out.append(series("container_cpu_usage_seconds_total", at, self.cpu[(ns, name, container.name)]))
                cpu = cpu_cores(((container.resources and container.resources.requests) or {}).get("cpu"))
                requests = {**at, "resource": "cpu", "unit": "core"}
                out.append(series("kube_pod_container_resource_requests", requests, cpu))
        return out

    def _nodes(self, nodes: list[client.V1Node]) -> list[str]:
        out = []
        for node in nodes:
            ready = next((c.status for c in (node.status.conditions or []) if c.type == "Ready"), "Unknown")
            for status in ("true", "false", "unknown"):
                labels = {"node": node.metadata.name, "condition": "Ready", "status": status}
                out.append(series("kube_node_status_condition", labels, 1.0 if ready.lower() == status else 0.0))
        return out


def handler(exporter: Exporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # one scrape a second: not worth a log line each
            pass

        def answer(self, status: int, body: str, kind: str = "text/plain; version=0.0.4") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/metrics":
                try:
                    text = exporter.scrape()
                except Exception as err:  # the cluster's API out of reach: the scrape fails
                    self.answer(503, f"cluster API: {type(err).__name__}\n")
                    return
                self.answer(200, text)
            elif self.path == "/load":
                with exporter.lock:
                    loads = {w: vars(load) for w, load in exporter.loads.items()}
                self.answer(200, json.dumps(loads), "application/json")
            else:
                self.answer(404, "not found\n")

        def do_POST(self) -> None:
            """`{"workload": id, "areas": {area: rps}, "serving_ms": .., "cpu_seconds": ..}`; no
            `areas`: the workload's load cleared."""
            if self.path != "/load":
                self.answer(404, "not found\n")
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                workload = body.pop("workload")
                load = Load(**body) if body.get("areas") else None
            except (ValueError, KeyError, TypeError) as err:
                self.answer(422, f"bad load: {err}\n")
                return
            exporter.set_load(workload, load)
            self.answer(204, "")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    api = config.new_client_from_config(str(args.kubeconfig))
    api.configuration.retries = False
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Exporter(client.CoreV1Api(api))))
    server.serve_forever()
