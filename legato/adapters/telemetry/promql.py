"""The PromQL the Prometheus source asks (pure: strings in, strings out, unit-tested without a
server). One query per figure and cluster, for every workload of that cluster asked at once, each
answer grouped by the label naming the workload: a reading of a service costs a handful of
queries, not a handful per component.

Series read (names are the de-facto standards; label names come from the site's configuration,
`PrometheusLabels`):

- `http_requests_total{workload, area, code}` and `http_request_duration_seconds_bucket{workload,
  area, le}`: the requests arriving for a workload, counted where they enter (an ingress, a
  gateway, the application's own middleware), with the user area they came from;
- `container_cpu_usage_seconds_total{namespace, pod, container}` (cAdvisor, the kubelet's);
- `kube_pod_container_resource_requests{namespace, pod, resource="cpu"}` and
  `kube_pod_status_ready{namespace, pod, condition="true"}` (kube-state-metrics);
- `kube_node_status_condition{node, condition="Ready", status="true"}` (kube-state-metrics) and
  `up{job=<the API server's job>}` for health.

Pod series name no workload: a Deployment's pods are `<deployment>-<replica set hash>-<pod hash>`,
so the workload is the pod name less its two last parts (`label_replace`), within the service's
namespace, which keeps a workload from being matched by another one's pods."""

from __future__ import annotations

import re
from collections.abc import Iterable

from legato.model.backends import PrometheusLabels

POD_OF_DEPLOYMENT = "-[a-z0-9]+-[a-z0-9]+"


def quoted(value: str) -> str:
    """A PromQL string literal (double-quoted, backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def one_of(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly these values (PromQL anchors label regexes)."""
    return "|".join(re.escape(v) for v in sorted(set(values)))


def duration(seconds: float) -> str:
    """A range in whole milliseconds (PromQL's finest unit), at least 1 ms."""
    return f"{max(1, round(seconds * 1000))}ms"


class Queries:
    """The queries of one site's Prometheus, its label names applied."""

    def __init__(self, labels: PrometheusLabels) -> None:
        self.labels = labels

    def _requests(self, metric: str, cluster: str, workloads: Iterable[str], extra: str = "") -> str:
        lb = self.labels
        return f"{metric}{{{lb.cluster}={quoted(cluster)},{lb.workload}=~{quoted(one_of(workloads))}{extra}}}"

    def request_rates(self, cluster: str, workloads: Iterable[str], window: float) -> str:
        """Requests per second over the window, per workload and user area (an area label absent:
        the group with an empty area, counted in the total, in no area)."""
        lb = self.labels
        return (f"sum by ({lb.workload}, {lb.area}) "
                f"(rate({self._requests('http_requests_total', cluster, workloads)}[{duration(window)}]))")

    def error_rates(self, cluster: str, workloads: Iterable[str], window: float) -> str:
        """Failed requests (5xx) per second over the window, per workload."""
        lb = self.labels
        series = self._requests("http_requests_total", cluster, workloads, f',{lb.code}=~"5.."')
        return f"sum by ({lb.workload}) (rate({series}[{duration(window)}]))"

    def latency_p95(self, cluster: str, workloads: Iterable[str], window: float) -> str:
        """The 95th percentile of the time to serve, in seconds, per workload and area (NaN where
        nothing was served: no request completed in the window)."""
        lb = self.labels
        series = self._requests("http_request_duration_seconds_bucket", cluster, workloads)
        return (f"histogram_quantile(0.95, sum by ({lb.workload}, {lb.area}, le) "
                f"(rate({series}[{duration(window)}])))")

    def _pods(self, metric: str, cluster: str, namespaces: Iterable[str], workloads: Iterable[str],
              extra: str = "") -> str:
        lb = self.labels
        pods = f"({one_of(workloads)}){POD_OF_DEPLOYMENT}"
        return (f"{metric}{{{lb.cluster}={quoted(cluster)},{lb.namespace}=~{quoted(one_of(namespaces))},"
                f"{lb.pod}=~{quoted(pods)}{extra}}}")

    def _by_workload(self, expr: str) -> str:
        """`expr` summed per workload, the workload read off the pod's name."""
        lb = self.labels
        return (f'sum by ({lb.workload}) (label_replace({expr}, {quoted(lb.workload)}, "$1", {quoted(lb.pod)}, '
                f"{quoted('(.+)' + POD_OF_DEPLOYMENT)}))")

    def cpu_used(self, cluster: str, namespaces: Iterable[str], workloads: Iterable[str], window: float) -> str:
        """CPU seconds per second the workload's containers used over the window (cAdvisor's
        per-container series; the pod-level one, container="", is left out so nothing counts twice)."""
        series = self._pods("container_cpu_usage_seconds_total", cluster, namespaces, workloads, ',container!=""')
        return self._by_workload(f"rate({series}[{duration(window)}])")

    def ready_pods(self, cluster: str, namespaces: Iterable[str], workloads: Iterable[str]) -> str:
        """The workload's ready pods now (kube-state-metrics: 1 for a ready pod, 0 otherwise)."""
        return self._by_workload(self._pods("kube_pod_status_ready", cluster, namespaces, workloads,
                                            ',condition="true"'))

    def cpu_requested_ready(self, cluster: str, namespaces: Iterable[str], workloads: Iterable[str]) -> str:
        """The CPU the workload's ready pods request now."""
        lb = self.labels
        requests = self._pods("kube_pod_container_resource_requests", cluster, namespaces, workloads,
                              ',resource="cpu"')
        ready = self._pods("kube_pod_status_ready", cluster, namespaces, workloads, ',condition="true"')
        on = f"{lb.cluster}, {lb.namespace}, {lb.pod}"
        return self._by_workload(f"{requests} and on({on}) ({ready} == 1)")

    def node_ready(self) -> str:
        """Each node's Ready condition now: 1 Ready, 0 not (False or Unknown)."""
        return 'kube_node_status_condition{condition="Ready",status="true"}'

    def api_up(self, job: str) -> str:
        """Whether each cluster's API server answered its last scrape."""
        return f"up{{{self.labels.job}={quoted(job)}}}"
