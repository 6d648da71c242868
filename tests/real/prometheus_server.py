"""The test bed's Prometheus (scripts/testbed.d/prometheus.sh) scraping kwok clusters: per cluster,
the workload exporter (workload_exporter/, what a real cluster's ingress, cAdvisor and
kube-state-metrics serve) and the cluster's API server (`/metrics/slis`, small, with the cluster's
admin certificate: its `up` says whether the API answers). Every target carries `cluster=<id>`.
Scrape interval 1 s, written into a static configuration file by `start`.

A test sets a workload's load with `load(...)` and reads through the `prometheus` telemetry source
pointed at `url`. `settle()` waits until what changed has been scraped (two intervals)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from legato.config import PROJECT_ROOT
from legato.devserver import free_port, wait_for_port

SCRAPE_SECONDS = 1.0


@dataclass
class ScrapedCluster:
    id: str
    kubeconfig: Path
    exporter_port: int = field(default_factory=free_port)


class PrometheusServer:
    def __init__(self, binary: Path, workdir: Path, clusters: list[ScrapedCluster]) -> None:
        self.binary, self.workdir, self.clusters = binary, workdir, clusters
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []

    def _config(self) -> dict:
        workloads = [{"targets": [f"127.0.0.1:{c.exporter_port}"], "labels": {"cluster": c.id}} for c in self.clusters]
        apiservers = []
        for c in self.clusters:
            kube = yaml.safe_load(c.kubeconfig.read_text())
            cluster, user = kube["clusters"][0]["cluster"], kube["users"][0]["user"]
            apiservers.append({
                "job_name": f"apiserver-{c.id}", "scheme": "https", "metrics_path": "/metrics/slis",
                "tls_config": {"ca_file": cluster["certificate-authority"], "cert_file": user["client-certificate"],
                               "key_file": user["client-key"]},
                "static_configs": [{"targets": [cluster["server"].removeprefix("https://")],
                                    "labels": {"cluster": c.id, "job": "apiserver"}}],
            })  # fmt: skip
        return {
            "global": {"scrape_interval": f"{SCRAPE_SECONDS:g}s", "scrape_timeout": f"{SCRAPE_SECONDS:g}s"},
            "scrape_configs": [{"job_name": "workloads", "static_configs": workloads}, *apiservers],
        }

    def start(self) -> PrometheusServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "processes.log").open("ab")
        for c in self.clusters:
            proc = subprocess.Popen([sys.executable, "-m", "tests.real.workload_exporter", "--kubeconfig",
                                     str(c.kubeconfig), "--port", str(c.exporter_port)],
                                    cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
            self.procs.append(proc)
            wait_for_port(c.exporter_port, 30, proc)
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        proc = subprocess.Popen([str(self.binary), f"--config.file={config}",
                                 f"--storage.tsdb.path={self.workdir / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.procs.append(proc)
        wait_for_port(self.port, 60, proc)
        self.settle_sync()
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def log(self) -> str:
        path = self.workdir / "processes.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def load(self, cluster: str, workload: str, areas: dict[str, float] | None = None, serving_ms: float = 10,
             cpu_seconds: float = 0.01) -> None:
        """The users' requests to `workload` from now on (None: none)."""
        port = next(c.exporter_port for c in self.clusters if c.id == cluster)
        body = {"workload": workload, "areas": areas or {}, "serving_ms": serving_ms, "cpu_seconds": cpu_seconds}
        httpx.post(f"http://127.0.0.1:{port}/load", json=body, timeout=5).raise_for_status()

    def settle_sync(self) -> None:
        """Wait until every target has been scraped twice more (what changed before is in)."""
        time.sleep(2.2 * SCRAPE_SECONDS)

    async def settle(self) -> None:
        await asyncio.sleep(2.2 * SCRAPE_SECONDS)
