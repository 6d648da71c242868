"""Chart components on Kubernetes: one Helm release each, driven through the real `helm` CLI.

- **The binary** is `LEGATO_HELM_BIN`, else `helm` on PATH, else the test bed's (`LEGATO_TESTBED_BIN`).
  It runs with the worker's own Helm configuration (registry logins, repository credentials):
  a spec never carries credentials.
- **The release is named by the workload id** (itself derived from the deploy's operation id), cut
  to Helm's 53 characters with a hash when longer, so a retried install finds its release.
- **Every revision Legato makes records its operation id** and the chart source in the revision's
  description (JSON under `legato`). A repeated call finds its operation id in the history and
  acts no more: charts dedup on the operation id, not on the name. The source recorded there is
  what a scale or an upgrade fetches again (Helm keeps a release's values, not where its chart came
  from).
- **Reads go to the API server**, not to `helm`: the release records are the Secrets Helm's storage
  driver writes (`owner=helm`, `name=<release>`), decoded as Helm does. The manifest of the current
  revision lists what the release created; readiness is every Deployment, StatefulSet and DaemonSet
  of it rolled out and available, every Job of it completed, and the release `deployed`. Hooks are
  helm's: `helm install`/`upgrade` runs them and waits for hook Jobs itself.
- **No `--wait`, no `--atomic`**: the workflow's readiness wait, bounded by the progress deadline,
  judges a revision, and an upgrade whose replicas are not ready in time is undone by the
  workflow's roll-back step. An upgrade back to the previous revision's chart version is Helm's own
  `helm rollback` to that revision (its manifest and values, exactly), so a failed upgrade ends on
  the revision that served before, as `--atomic` would, while a worker crash mid-wait loses
  nothing.
- **A helm that died mid-operation** (the worker killed) leaves its revision `pending-*`, which
  blocks the next install or upgrade. Only Legato changes a Legato release, one operation at a time
  per service, so such a revision is known dead: its record is deleted (the recovery Helm's
  maintainers give) and the call goes on; objects it had applied carry the release's annotations,
  so the next install or upgrade adopts them.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from legato.adapters.errors import InvalidRequest, NotFound, PermanentFault, TransientFault
from legato.adapters.kube import call, call_or_none
from legato.model.charts import ChartSource, get_path, release_values, set_path
from legato.model.names import short_hash
from legato.model.workloads import WorkloadMetrics, WorkloadSpec, WorkloadStatus

MAX_RELEASE_NAME = 53
HELM_TIMEOUT = 300.0  # seconds one helm command may take (fetching a chart, applying its objects)
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
ENDPOINT_ANNOTATION = "legato.io/endpoint"  # on the chart's Service that users reach, when it has several
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def release_name(workload_id: str) -> str:
    """The workload id, or, past Helm's 53 characters, its head and a hash of the whole."""
    if len(workload_id) <= MAX_RELEASE_NAME:
        return workload_id
    return f"{workload_id[:MAX_RELEASE_NAME - 9].rstrip('-')}-{short_hash(workload_id)}"


def find_helm() -> Path:
    """`LEGATO_HELM_BIN`, else `helm` on PATH, else the test bed's build."""
    if explicit := os.environ.get("LEGATO_HELM_BIN"):
        path = Path(explicit).expanduser()
        if not os.access(path, os.X_OK):
            raise PermanentFault(f"LEGATO_HELM_BIN={explicit}: not an executable file")
        return path
    if found := shutil.which("helm"):
        return Path(found)
    from legato.config import Settings

    testbed = Settings().testbed_bin_dir / "helm"
    if os.access(testbed, os.X_OK):
        return testbed
    raise PermanentFault("a chart component needs the helm binary: set LEGATO_HELM_BIN or put helm on PATH "
                         "(scripts/testbed.sh builds one)")


@dataclass
class Release:
    """One revision of a release, as Helm's storage driver keeps it."""

    name: str
    revision: int
    status: str
    chart_name: str
    version: str
    config: dict[str, Any]
    manifest: str
    description: str
    secret: str = ""
    namespace: str = ""

    @property
    def legato(self) -> dict[str, Any] | None:
        """What Legato recorded in this revision's description: op id, chart source, component."""
        try:
            record = json.loads(self.description)
        except ValueError:
            return None
        return record.get("legato") if isinstance(record, dict) and isinstance(record.get("legato"), dict) else None

    def objects(self) -> list[tuple[str, str]]:
        """(kind, name) of every object the revision's manifest creates, in manifest order."""
        found = []
        for doc in yaml.safe_load_all(self.manifest or ""):
            if isinstance(doc, dict) and doc.get("kind") and (doc.get("metadata") or {}).get("name"):
                found.append((doc["kind"], doc["metadata"]["name"]))
        return found


def decode_release(secret: client.V1Secret) -> Release:
    """Helm stores base64(gzip(JSON)) in the Secret's `release` key (base64 once more in the API)."""
    raw = base64.b64decode(base64.b64decode((secret.data or {})["release"]))
    data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    meta = (data.get("chart") or {}).get("metadata") or {}
    info = data.get("info") or {}
    return Release(name=data["name"], revision=int(data["version"]), status=info.get("status", ""),
                   chart_name=meta.get("name", ""), version=meta.get("version", ""), config=data.get("config") or {},
                   manifest=data.get("manifest", ""), description=info.get("description", ""),
                   secret=secret.metadata.name, namespace=secret.metadata.namespace or "")  # fmt: skip


def kubeconfig_of(api: client.ApiClient) -> dict[str, Any]:
    """A kubeconfig for helm from the client the MCM gave (its server, CA and credentials)."""
    cfg = api.configuration
    cluster: dict[str, Any] = {"server": cfg.host}
    if cfg.ssl_ca_cert:
        cluster["certificate-authority"] = cfg.ssl_ca_cert
    if not cfg.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    user: dict[str, Any] = {}
    if cfg.cert_file:
        user["client-certificate"] = cfg.cert_file
    if cfg.key_file:
        user["client-key"] = cfg.key_file
    token = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    if token:
        user["token"] = token.removeprefix("Bearer ").strip()
    if cfg.username:
        user["username"], user["password"] = cfg.username, cfg.password
    return {"apiVersion": "v1", "kind": "Config", "current-context": "legato",
            "clusters": [{"name": "legato", "cluster": cluster}], "users": [{"name": "legato", "user": user}],
            "contexts": [{"name": "legato", "context": {"cluster": "legato", "user": "legato"}}]}  # fmt: skip


def helm_error(cluster_id: str, what: str, stderr: str) -> Exception:
    """helm's message onto retry semantics. The message is helm's own, cut short (it names charts,
    versions and objects, never values)."""
    text = " ".join(stderr.replace("Error: ", "").split())[:400]
    reason = f"cluster {cluster_id}: helm {what}: {text}"
    low = text.lower()
    if "another operation (install/upgrade/rollback) is in progress" in low:
        return TransientFault(reason)
    if any(s in low for s in ("connection refused", "i/o timeout", "tls handshake timeout", "eof",
                              "too many requests", "service unavailable", "context deadline exceeded",
                              "connection reset", "no route to host")):  # fmt: skip
        return TransientFault(reason)
    if any(s in low for s in ("not found", "no chart version", "invalid", "parse error", "template:",
                              "failed to download", "unable to build kubernetes objects", "is forbidden",
                              "cannot be imported", "must be", "unknown field")):  # fmt: skip
        return InvalidRequest(reason)
    if "unauthorized" in low or "forbidden" in low:
        return PermanentFault(reason)
    return PermanentFault(reason)


@dataclass
class Helm:
    """The helm CLI, run per call with a private kubeconfig for the cluster."""

    binary: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    async def run(self, cluster_id: str, api: client.ApiClient, what: str, *args: str,
                  values: dict[str, Any] | None = None) -> str:
        binary = self.binary or find_helm()
        with tempfile.TemporaryDirectory(prefix="legato-helm-") as tmp:
            kubeconfig = Path(tmp) / "kubeconfig"
            kubeconfig.write_text(yaml.safe_dump(kubeconfig_of(api)))
            kubeconfig.chmod(0o600)
            extra = ["--kubeconfig", str(kubeconfig)]
            if values is not None:
                path = Path(tmp) / "values.json"
                path.write_text(json.dumps(values))
                path.chmod(0o600)
                extra += ["--values", str(path)]
            proc = await asyncio.create_subprocess_exec(
                str(binary), *args, *extra, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **self.env})
            try:
                out, err = await asyncio.wait_for(proc.communicate(), HELM_TIMEOUT)
            except (TimeoutError, asyncio.CancelledError):
                proc.kill()
                await proc.wait()
                raise
        if proc.returncode != 0:
            raise helm_error(cluster_id, what, err.decode(errors="replace"))
        return out.decode(errors="replace")


def chart_args(source: ChartSource, version: str) -> list[str]:
    if source.ref.startswith("oci://"):
        return [source.ref, "--version", version]
    return [source.chart_name, "--repo", source.ref, "--version", version]


def description(op_id: str, source: ChartSource, spec: WorkloadSpec | None = None,
                previous: dict[str, Any] | None = None) -> str:
    record = {"op": op_id, "chart": source.model_dump(exclude={"values", "values_files"}, exclude_none=True)}
    if spec is not None:
        record |= {"service": spec.service_id, "component": spec.component, "tenant": spec.tenant}
    elif previous is not None:
        record |= {k: previous[k] for k in ("service", "component", "tenant") if k in previous}
    return json.dumps({"legato": record}, separators=(",", ":"), sort_keys=True)


def pods_needed(manifest: str, nodes: list[dict[str, str]] | None = None) -> int:
    """The most pods a rendered release runs at once while it rolls out: each Deployment's and
    StatefulSet's replicas and one surge pod each (maxSurge 1); a DaemonSet's pod on every node its
    node selector admits (`nodes`: the cluster's nodes' labels; taints and affinities not read, so
    an upper bound), plus its own maxSurge (none by default); a Job's parallelism (default 1)."""
    total = 0
    for doc in yaml.safe_load_all(manifest or ""):
        if not isinstance(doc, dict) or doc.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = doc.get("spec") or {}
        if doc["kind"] == "DaemonSet":
            selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
            on = sum(1 for labels in nodes or [] if selector.items() <= labels.items())
            surge = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("maxSurge") or 0
            if isinstance(surge, str) and surge.endswith("%"):
                surge = -(-on * int(surge[:-1]) // 100)
            total += on + int(surge)
        elif doc["kind"] == "Job":
            total += int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        else:
            replicas = spec.get("replicas", 1)
            total += int(replicas if replicas is not None else 1) + 1
    return total


def has_daemonset(manifest: str) -> bool:
    return any(isinstance(d, dict) and d.get("kind") == "DaemonSet" for d in yaml.safe_load_all(manifest or ""))


# Called before a release's pods change, with the most pods the new revision runs at once: how a
# namespace quota (tenancy) makes room for a chart's own shape (its fixed workloads, their surges).
Admit = Callable[[str, client.ApiClient, str, str, int], Awaitable[None]]


class HelmReleases:
    """The release half of the Kubernetes WDM: what it does for a workload that is a chart."""

    def __init__(self, helm: Helm | None = None, admit: Admit | None = None) -> None:
        self.helm = helm or Helm()
        self.admit = admit

    async def _admit(self, cluster_id: str, api: client.ApiClient, namespace: str, workload_id: str,
                     source: ChartSource, version: str, values: dict[str, Any], manifest: str | None = None) -> None:
        """Render the revision to come (`helm template`) and let the quota make room for its pods."""
        if self.admit is None:
            return
        if manifest is None:
            manifest = await self.helm.run(
                cluster_id, api, "template", "template", release_name(workload_id), *chart_args(source, version),
                "--namespace", namespace, values=values)  # fmt: skip
        nodes = None
        if has_daemonset(manifest):  # its pods: one per node it admits
            found = await call(cluster_id, lambda: client.CoreV1Api(api).list_node())
            nodes = [n.metadata.labels or {} for n in found.items]
        await self.admit(cluster_id, api, namespace, workload_id, pods_needed(manifest, nodes))

    # ---- reading releases from the API server

    async def history(self, cluster_id: str, api: client.ApiClient, workload_id: str,
                      namespace: str) -> list[Release]:
        """The release's revisions, oldest first, read in its service's namespace only (where it is
        installed, and where Helm keeps its records): Secrets are never listed cluster-wide, so
        credentials allowed to read Secrets only in Legato's namespaces do."""
        core = client.CoreV1Api(api)
        name = release_name(workload_id)
        found = await call(cluster_id, lambda: core.list_namespaced_secret(
            namespace, label_selector=f"owner=helm,name={name}"))  # fmt: skip
        return sorted((decode_release(s) for s in found.items), key=lambda r: r.revision)

    async def statuses(self, cluster_id: str, api: client.ApiClient, namespaces: list[str]) -> list[WorkloadStatus]:
        """Every Legato release in `namespaces` (Legato's), as `status` reports it (one list each)."""
        core = client.CoreV1Api(api)
        by_name: dict[tuple[str, str], list[Release]] = {}
        for ns in namespaces:
            found = await call(cluster_id, lambda n=ns: core.list_namespaced_secret(n, label_selector="owner=helm"))
            for s in found.items:
                r = decode_release(s)
                by_name.setdefault((r.namespace, r.name), []).append(r)
        out = []
        for _, history in sorted(by_name.items()):
            history.sort(key=lambda r: r.revision)
            record = next((r.legato for r in reversed(history) if r.legato), None)
            if record is not None and record.get("workload"):
                out.append(await self._status(cluster_id, api, record["workload"], history))
        return out

    # ---- the WDM calls

    async def deploy(self, op_id: str, cluster_id: str, api: client.ApiClient, namespace: str,
                     spec: WorkloadSpec) -> WorkloadStatus:
        """Install in `namespace`, or upgrade in place a release that runs (a deploy of the same
        id); a repeated operation id acts no more."""
        assert spec.chart is not None
        if spec.replicas < 0:
            raise InvalidRequest(f"workload {spec.id}: replicas must be >= 0, not {spec.replicas}")
        history = await self._settled_history(cluster_id, api, spec.id, namespace)
        if not any((r.legato or {}).get("op") == op_id for r in history):
            record = json.loads(description(op_id, spec.chart, spec))
            record["legato"]["workload"] = spec.id
            values = release_values(spec.chart, spec.replicas, spec.version)
            await self._admit(cluster_id, api, namespace, spec.id, spec.chart, spec.version, values)
            await self.helm.run(
                cluster_id, api, "install", "upgrade", "--install", release_name(spec.id),
                *chart_args(spec.chart, spec.version), "--namespace", namespace,
                "--description", json.dumps(record, separators=(",", ":"), sort_keys=True),
                values=values)  # fmt: skip
        return await self._existing(cluster_id, api, namespace, spec.id)

    async def scale(self, op_id: str, cluster_id: str, api: client.ApiClient, namespace: str, workload_id: str,
                    replicas: int) -> WorkloadStatus:
        """A new revision with the replicas at the chart's replicas path (Helm's values, not the
        scale subresource: the next upgrade keeps them)."""
        if replicas < 0:
            raise InvalidRequest(f"workload {workload_id}: replicas must be >= 0, not {replicas}")
        history = await self._settled_history(cluster_id, api, workload_id, namespace)
        current, source, record = self._current(workload_id, history)
        if not any((r.legato or {}).get("op") == op_id for r in history) and \
                get_path(current.config, source.replicas_path) != replicas:
            await self._upgrade(op_id, cluster_id, api, current.namespace, workload_id, source, record,
                                current.version, set_path(current.config, source.replicas_path, replicas))
        return await self._existing(cluster_id, api, namespace, workload_id)

    async def upgrade(self, op_id: str, cluster_id: str, api: client.ApiClient, namespace: str, workload_id: str,
                      version: str, values: dict[str, Any] | None = None) -> WorkloadStatus:
        """To another chart version and/or new values. `values` None keeps the release's; given, they
        are the chart's values whole, the release's replicas (and the version, where the chart asks)
        set at their paths over them. Back to the previous revision (its version, and its values when
        given) is `helm rollback` to that revision. Nothing new changes nothing."""
        history = await self._settled_history(cluster_id, api, workload_id, namespace)
        current, source, record = self._current(workload_id, history)
        if any((r.legato or {}).get("op") == op_id for r in history):
            return await self._existing(cluster_id, api, namespace, workload_id)
        wanted = current.config
        if values is not None:
            wanted = set_path(values, source.replicas_path, get_path(current.config, source.replicas_path))
        if source.version_path:
            wanted = set_path(wanted, source.version_path, version)
        if current.version == version and (values is None or wanted == current.config):
            return await self._existing(cluster_id, api, namespace, workload_id)
        previous = next((r for r in reversed(history) if r.revision < current.revision), None)
        if previous is not None and previous.version == version and (values is None or previous.config == wanted):
            await self._admit(cluster_id, api, namespace, workload_id, source, version, previous.config,
                              previous.manifest)
            await self.helm.run(cluster_id, api, "rollback", "rollback", release_name(workload_id),
                                str(previous.revision), "--namespace", namespace)
        else:
            await self._upgrade(op_id, cluster_id, api, namespace, workload_id, source, record, version, wanted)
        return await self._existing(cluster_id, api, namespace, workload_id)

    async def remove(self, cluster_id: str, api: client.ApiClient, namespace: str, workload_id: str,
                     history: list[Release] | None = None) -> None:
        """`helm uninstall`, waiting for the release's objects to go; nothing there: done."""
        history = history if history is not None else await self.history(cluster_id, api, workload_id, namespace)
        if not any(r.legato is not None for r in history):
            return
        await self.helm.run(cluster_id, api, "uninstall", "uninstall", release_name(workload_id),
                            "--namespace", history[-1].namespace, "--wait", "--timeout", "120s",
                            "--ignore-not-found")  # fmt: skip

    async def status(self, cluster_id: str, api: client.ApiClient, namespace: str, workload_id: str,
                     history: list[Release] | None = None) -> WorkloadStatus | None:
        history = history if history is not None else await self.history(cluster_id, api, workload_id, namespace)
        if not any(r.legato is not None for r in history):
            return None
        return await self._status(cluster_id, api, workload_id, history)

    async def metrics(self, cluster_id: str, api: client.ApiClient, namespace: str, workload_id: str,
                      history: list[Release] | None = None) -> WorkloadMetrics | None:
        """The share of the release's pods not ready or restarted, as for a plain workload."""
        from legato.adapters.wdm.kubernetes import pod_healthy

        history = history if history is not None else await self.history(cluster_id, api, workload_id, namespace)
        if not any(r.legato is not None for r in history):
            return None
        current = history[-1]
        pods = [p for kind, _, ps in await self._workloads(cluster_id, api, current) if kind != "Job" for p in ps]
        bad = sum(1 for p in pods if not pod_healthy(p))
        return WorkloadMetrics(id=workload_id, version=current.version, error_rate=bad / len(pods) if pods else 0.0)

    # ---- helpers

    async def _upgrade(self, op_id: str, cluster_id: str, api: client.ApiClient, namespace: str, workload_id: str,
                       source: ChartSource, record: dict[str, Any], version: str, values: dict[str, Any]) -> None:
        desc = json.loads(description(op_id, source, previous=record))
        desc["legato"]["workload"] = workload_id
        await self._admit(cluster_id, api, namespace, workload_id, source, version, values)
        await self.helm.run(cluster_id, api, "upgrade", "upgrade", release_name(workload_id),
                            *chart_args(source, version), "--namespace", namespace,
                            "--description", json.dumps(desc, separators=(",", ":"), sort_keys=True),
                            values=values)  # fmt: skip

    def _current(self, workload_id: str, history: list[Release]) -> tuple[Release, ChartSource, dict[str, Any]]:
        """The revision serving now, the chart source and record Legato wrote last."""
        if not history or not any(r.legato for r in history):
            raise NotFound(f"release {release_name(workload_id)} (workload {workload_id}) does not exist")
        record = next(r.legato for r in reversed(history) if r.legato)
        return history[-1], ChartSource.model_validate(record["chart"]), record

    async def _settled_history(self, cluster_id: str, api: client.ApiClient, workload_id: str,
                               namespace: str) -> list[Release]:
        """The history, with a revision a dead helm left pending deleted first (see the module's doc)."""
        history = await self.history(cluster_id, api, workload_id, namespace)
        pending = [r for r in history if r.status in PENDING]
        if not pending or not any(r.legato is not None for r in history):
            return history
        core = client.CoreV1Api(api)
        for r in pending:
            await call_or_none(cluster_id, lambda r=r: core.delete_namespaced_secret(r.secret, r.namespace))
        return await self.history(cluster_id, api, workload_id, namespace)

    async def _existing(self, cluster_id: str, api: client.ApiClient, namespace: str,
                        workload_id: str) -> WorkloadStatus:
        status = await self.status(cluster_id, api, namespace, workload_id)
        if status is None:
            raise NotFound(f"release {release_name(workload_id)} (workload {workload_id}) does not exist")
        return status

    async def _workloads(self, cluster_id: str, api: client.ApiClient,
                         current: Release) -> list[tuple[str, Any, list[client.V1Pod]]]:
        """Each Deployment, StatefulSet, DaemonSet and Job the revision created, with its pods."""
        namespace = current.namespace
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        readers = {"Deployment": apps.read_namespaced_deployment, "StatefulSet": apps.read_namespaced_stateful_set,
                   "DaemonSet": apps.read_namespaced_daemon_set,
                   "Job": client.BatchV1Api(api).read_namespaced_job}  # fmt: skip
        found = []
        for kind, name in current.objects():
            if kind not in readers:
                continue
            obj = await call_or_none(cluster_id, lambda r=readers[kind], n=name: r(n, namespace))
            if obj is None:
                found.append((kind, None, []))
                continue
            labels = (obj.spec.selector.match_labels or {}) if obj.spec.selector else {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            pods = await call(cluster_id, lambda s=selector: core.list_namespaced_pod(namespace, label_selector=s))
            found.append((kind, obj, pods.items))
        return found

    async def _status(self, cluster_id: str, api: client.ApiClient, workload_id: str,
                      history: list[Release]) -> WorkloadStatus:
        current = history[-1]
        record = next(r.legato for r in reversed(history) if r.legato) or {}
        source = ChartSource.model_validate(record["chart"])
        workloads = await self._workloads(cluster_id, api, current)
        endpoint = await self._endpoint(cluster_id, api, current)
        return release_status(cluster_id, workload_id, current, source, record, workloads, endpoint)

    async def _endpoint(self, cluster_id: str, api: client.ApiClient, current: Release) -> str | None:
        """The Service annotated `legato.io/endpoint`, else the release's first Service by name."""
        core, namespace = client.CoreV1Api(api), current.namespace
        services = []
        for kind, name in sorted(current.objects(), key=lambda o: o[1]):
            if kind == "Service":
                svc = await call_or_none(cluster_id, lambda n=name: core.read_namespaced_service(n, namespace))
                if svc is not None and svc.spec.cluster_ip and svc.spec.ports:
                    services.append(svc)
        marked = [s for s in services if (s.metadata.annotations or {}).get(ENDPOINT_ANNOTATION) == "true"]
        chosen = (marked or services or [None])[0]
        return f"{chosen.spec.cluster_ip}:{chosen.spec.ports[0].port}" if chosen is not None else None


def workload_done(kind: str, obj: Any) -> bool:
    """The controller has seen the latest spec, every replica runs it and is available; a Job, that it
    completed (a failed one never is: the readiness wait's deadline fails the operation)."""
    if kind == "Job" and obj is None:
        return True  # helm created it with the revision: gone since, it was deleted once finished (its TTL)
    if obj is None or obj.status is None:
        return False
    if kind == "Job":
        return any(c.type == "Complete" and c.status == "True" for c in obj.status.conditions or [])
    s, generation = obj.status, obj.metadata.generation or 0
    if (s.observed_generation or 0) < generation:
        return False
    if kind == "Deployment":
        want = obj.spec.replicas if obj.spec.replicas is not None else 1
        return (s.updated_replicas or 0) == want and (s.replicas or 0) == want and (s.available_replicas or 0) >= want
    if kind == "StatefulSet":
        want = obj.spec.replicas if obj.spec.replicas is not None else 1
        same = not s.update_revision or s.current_revision == s.update_revision
        return same and (s.updated_replicas or 0) >= want and (s.ready_replicas or 0) >= want
    want = s.desired_number_scheduled or 0
    return (s.updated_number_scheduled or 0) == want and (s.number_available or 0) == want


def pod_version(pod: client.V1Pod, chart_name: str, default: str) -> str:
    """A pod's chart version from the `helm.sh/chart` label charts put on their pods
    (`<chart>-<version>`); the release's version for a chart that does not."""
    label = (pod.metadata.labels or {}).get("helm.sh/chart", "")
    prefix = f"{chart_name}-"
    return label[len(prefix):] if label.startswith(prefix) else default


def release_status(cluster_id: str, workload_id: str, current: Release, source: ChartSource, record: dict[str, Any],
                   workloads: list[tuple[str, Any, list[client.V1Pod]]], endpoint: str | None) -> WorkloadStatus:
    """A release as one workload. `replicas` is the value at the chart's replicas path. What serves
    is counted in those replicas: each of the release's workloads serves in proportion to its
    ready pods (a workload the replicas path scales counts its pods; one with a fixed count, its
    share), and the release serves what its least-served workload allows, split by the chart
    version of that workload's pods. `ready` only once the release is `deployed` and every one of
    its workloads is rolled out and available. `nodes` counts every pod of the release."""
    from legato.adapters.wdm.kubernetes import pod_live, pod_ready

    wanted = get_path(current.config, source.replicas_path)
    replicas = wanted if isinstance(wanted, int) else 1
    serving: dict[str, int] | None = None
    lowest: float | None = None
    nodes: dict[str, int] = {}
    for kind, obj, pods in workloads:
        for p in pods:
            if pod_live(p):
                nodes[p.spec.node_name] = nodes.get(p.spec.node_name, 0) + 1
        if kind == "Job":  # runs to completion: readiness waits for it, it serves nothing
            continue
        if obj is None:
            serving, lowest = {}, 0.0
            continue
        desired = (obj.status.desired_number_scheduled or 0) if kind == "DaemonSet" else (
            obj.spec.replicas if obj.spec.replicas is not None else 1)
        if desired <= 0:
            continue
        counts: dict[str, int] = {}
        for p in pods:
            if pod_ready(p) and pod_live(p):
                v = pod_version(p, current.chart_name, current.version)
                counts[v] = counts.get(v, 0) + 1
        share = sum(counts.values()) / desired
        if lowest is None or share < lowest:
            lowest = share
            serving = {v: n * replicas // desired for v, n in counts.items() if n * replicas // desired > 0}
    if serving is None:  # a chart without workloads: it serves once deployed
        serving = {current.version: replicas} if current.status == "deployed" else {}
    done = current.status == "deployed" and all(workload_done(k, o) for k, o, _ in workloads)
    total = sum(serving.values())
    ready = replicas if done else max(0, min(total, replicas - 1))
    return WorkloadStatus(
        id=workload_id, cluster=cluster_id, component=record.get("component", ""),
        service_id=record.get("service", ""), version=current.version, replicas=replicas, ready_replicas=ready,
        endpoint=endpoint, nodes=dict(sorted(nodes.items())), serving=dict(sorted(serving.items())),
        updated_replicas=serving.get(current.version, 0), revision=current.revision,
    )  # fmt: skip
