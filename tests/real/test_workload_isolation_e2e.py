"""A secret set through `secretRef`, end to end: DeployService on a kwok site, through the API and a
worker process. The marker value is in the cluster's Secret, and nowhere else: not in the raw
Temporal history of the service (read with the `temporal` CLI, payloads decoded), not in the
inventory database file, not in any log (worker, API, Temporal server, this process's)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import subprocess

import pytest
import yaml
from kubernetes import client

from legato.adapters.wdm import tenancy
from legato.adapters.wdm.kubernetes import secret_name
from legato.devserver import temporal_binary
from tests.e2e.calls import active
from tests.real.testbed import delete_every_cluster
from tests.stack import running_stack

MARKER = "marker-b81d0c5a-never-logged"


def topology() -> dict:
    backend = {"pim": "sim", "mcm": "kwok", "wdm": "kubernetes"}
    site = {"id": "sec-edge", "tier": "edge", "provider": "p", "region": "eu-west", "country": "FR", "lat": 48.9,
            "lon": 2.35, "cost_per_vcpu_hour": 0.05, "backend": backend,
            "hosts": [{"id": f"sec-h{i}", "cpu": 8, "memory_mb": 16384} for i in (1, 2)],
            "clusters": [{"id": "sec-k8s", "hosts": ["sec-h1", "sec-h2"]}]}  # fmt: skip
    return {"areas": [{"id": "paris", "region": "eu-west", "lat": 48.86, "lon": 2.35}], "sites": [site]}


class Everything(logging.Handler):
    """Every record of this process (the API runs here), formatted with its arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__}")


@pytest.fixture
async def stack(kube_bin, temporal_server, tmp_path, monkeypatch):
    monkeypatch.setenv("LEGATO_TESTBED_BIN", str(kube_bin))
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(topology()))
    async with running_stack(tmp_path / "legato", temporal_server.address, worker="process", topology=path,
                             testbed_bin=kube_bin) as s:  # fmt: skip
        yield s
        await delete_every_cluster(s.adapters.mcm.backends.of("sec-edge"))


def history(temporal_server, workflow_id: str) -> str:
    """The raw history as the CLI prints it, plus every payload's data decoded (the CLI prints them
    base64-encoded)."""
    raw = subprocess.run([temporal_binary(), "workflow", "show", "--workflow-id", workflow_id, "--address",
                          temporal_server.address, "--output", "json"], capture_output=True, text=True, check=True,
                         timeout=60).stdout  # fmt: skip
    decoded: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    try:
                        decoded.append(base64.b64decode(value).decode(errors="replace"))
                    except ValueError:
                        pass
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(raw))
    assert any("secret_env" in d for d in decoded), "the decoded history should hold the spec (a reference)"
    return raw + "\n".join(decoded)


async def test_a_secret_value_reaches_the_cluster_and_nothing_else(stack, temporal_server):
    handler = Everything()
    logging.getLogger().addHandler(handler)
    try:
        api = await stack.adapters.mcm.api_client("sec-k8s")
        core = client.CoreV1Api(api)
        source = tenancy.tenant_secrets_namespace("alpha")
        await asyncio.to_thread(core.create_namespace, {"metadata": {"name": source}})
        await asyncio.to_thread(core.create_namespaced_secret, source, {
            "metadata": {"name": "shop-db"}, "stringData": {"password": MARKER}})  # fmt: skip
        spec = {"name": "shop", "components": [{
            "name": "api", "image": "registry.example/api", "version": "1.0", "cpu": 0.5, "memory_mb": 256,
            "ports": [8080], "env": {"LOG_LEVEL": "info"},
            "secret_env": {"DB_PASSWORD": {"kubernetes": "shop-db", "key": "password"}}}],
            "user_areas": [{"area": "paris", "component": "api", "max_latency_ms": 50}]}  # fmt: skip
        service_id = await active(stack, spec)
        async with stack.http() as http:
            [comp] = (await http.get(f"/v1/services/{service_id}")).json()["components"]
        ns = tenancy.service_namespace(service_id)
        secret = await asyncio.to_thread(core.read_namespaced_secret, secret_name(comp["workload_id"]), ns)
        assert base64.b64decode(secret.data["DB_PASSWORD"]).decode() == MARKER  # in the cluster's Secret

        assert MARKER not in history(temporal_server, f"service-{service_id}")
        kwok = stack.settings.data_dir / "kwok"  # the clusters' own state (etcd holds the Secret, as it must)
        files = [p for p in stack.settings.data_dir.rglob("*") if p.is_file() and kwok not in p.parents]
        assert any(p.name.startswith("inventory.db") for p in files) and any(p.suffix == ".log" for p in files)
        for p in [*files, temporal_server.log_file]:
            assert MARKER.encode() not in p.read_bytes(), f"the secret value leaked into {p}"
        assert not [line for line in handler.lines if MARKER in line]
        await stack.remove(service_id)
    finally:
        logging.getLogger().removeHandler(handler)
