"""MCM on kwok: every cluster is a real Kubernetes control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler) started by `kwokctl --runtime binary` from the test bed's
binaries, whose nodes are Node objects that kwok's controller keeps Ready and whose pods it runs.

It rehearses a continuum of real API servers, schedulers and controllers on one machine, and is
the test bed of everything Kubernetes-facing. What Legato knows of a cluster besides its nodes
(site, owner) is a small JSON file per cluster, written before the control plane starts, so a
crash mid-create leaves something `delete_cluster` can find and remove."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import yaml
from kubernetes import client

from legato.adapters.errors import InvalidRequest, NotFound, TransientFault
from legato.adapters.kube import call, client_from_kubeconfig
from legato.adapters.mcm.nodes import (
    busy,
    control_plane_version,
    create_nodes,
    drain,
    kubelet_versions,
    remove,
)
from legato.devserver import free_port
from legato.model import Cluster, Host, Site
from legato.model.clusters import DrainResult
from legato.model.service import NAME_PATTERN
from legato.model.versions import canonical, canonical_or_none, parse, upgrade_refusal

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTS = ("etcdPort", "etcdPeerPort", "kubeApiserverPort", "kubeControllerManagerPort", "kubeSchedulerPort",
         "kwokControllerPort")


def ports_config(workdir: Path, name: str, apiserver: int | None = None) -> str:
    """kwokctl's `--config` flag for a cluster whose every port the OS chose. Left to itself,
    kwokctl takes ports counting down from 32767, so two control planes created at once (two
    Legato workers, two test runs, a test bed provider beside an MCM) take the same ones and one
    never starts. The ports are kept in the cluster's kwok.yaml, so a restart reuses them."""
    ports: set[int] = {apiserver} if apiserver else set()
    while len(ports) < len(PORTS):
        ports.add(free_port())
    chosen = sorted(ports - {apiserver})
    options = dict(zip([p for p in PORTS if not (apiserver and p == "kubeApiserverPort")], chosen, strict=True))
    if apiserver:
        options["kubeApiserverPort"] = apiserver
    path = workdir / f"{name}.ports.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
                                    "options": options}))  # fmt: skip
    return f"--config={path}"
# What an upgrade restarts on the new release; etcd (the state) and kwok (the nodes' and pods'
# heartbeats) keep running, so the pods stay Ready through it.
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


class KwokMCM:
    def __init__(self, sites: list[Site], bin_dir: Path, workdir: Path, start_timeout: float = 180) -> None:
        self.sites = {s.id: s for s in sites}
        self.hosts = {h.id: h.model_copy(update={"site": s.id}) for s in sites for h in s.hosts}
        self.bin_dir, self.workdir, self.start_timeout = bin_dir, workdir, start_timeout
        self.meta_dir = workdir / "legato"
        self._clients: dict[str, client.ApiClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._releases: dict[str, Path] | None = None

    # ---- what Legato records per cluster

    def _meta(self, cluster_id: str) -> dict | None:
        path = self.meta_dir / f"{cluster_id}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def _write_meta(self, cluster_id: str, meta: dict) -> None:
        self.meta_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.meta_dir / f".{cluster_id}.json"
        tmp.write_text(json.dumps(meta))
        tmp.replace(self.meta_dir / f"{cluster_id}.json")

    def _kubeconfig(self, cluster_id: str) -> Path:
        return self.workdir / "clusters" / cluster_id / "kubeconfig.yaml"

    # ---- KubeClusters, for the Kubernetes WDM

    async def api_client(self, cluster_id: str) -> client.ApiClient:
        if self._meta(cluster_id) is None or not self._kubeconfig(cluster_id).exists():
            raise NotFound(f"cluster {cluster_id} is not a kwok cluster of this MCM")
        if cluster_id not in self._clients:
            self._clients[cluster_id] = client_from_kubeconfig(self._kubeconfig(cluster_id))
        return self._clients[cluster_id]

    async def kube_cluster_ids(self) -> list[str]:
        return sorted(p.stem for p in self.meta_dir.glob("*.json")) if self.meta_dir.exists() else []

    # ---- MCM

    async def list_clusters(self, site: str | None = None) -> list[Cluster]:
        found = [await self.get_cluster(c) for c in await self.kube_cluster_ids()]
        return [c for c in found if c is not None and (site is None or c.site == site)]

    async def get_cluster(self, cluster_id: str) -> Cluster | None:
        meta = self._meta(cluster_id)
        if meta is None:
            return None
        try:
            api = await self.api_client(cluster_id)
            kubelets = await kubelet_versions(cluster_id, client.CoreV1Api(api))
            version = await control_plane_version(cluster_id, api)
        except NotFound:
            kubelets, version = {}, ""  # recorded, control plane not created yet
        return Cluster(id=cluster_id, site=meta["site"], hosts=sorted(kubelets), shared=meta["shared"],
                       service_id=meta["owner"], kubernetes_version=version, node_versions=kubelets)  # fmt: skip

    async def create_cluster(self, op_id: str, cluster_id: str, site: str, host_ids: list[str], owner: str) -> Cluster:
        return await self._create(cluster_id, site, host_ids, owner or None, shared=False)

    async def start_shared_clusters(self) -> list[Cluster]:
        """The topology's clusters at kwok sites (shared by every service), started if not running."""
        return [
            await self._create(c.id, s.id, c.hosts, None, shared=True) for s in self.sites.values() for c in s.clusters
        ]

    async def _create(
        self, cluster_id: str, site: str, host_ids: list[str], owner: str | None, shared: bool
    ) -> Cluster:
        if not re.fullmatch(NAME_PATTERN, cluster_id):
            raise InvalidRequest(f"cluster id {cluster_id!r} is not a DNS-1123 label")
        if site not in self.sites:
            raise InvalidRequest(f"site {site} is not served by the kwok MCM")
        hosts = self._site_hosts(site, host_ids)
        async with self._lock(cluster_id):
            meta = self._meta(cluster_id)
            if meta is not None and (meta["site"], meta["owner"]) != (site, owner):
                raise InvalidRequest(f"cluster {cluster_id} already exists")
            if meta is None and not hosts:
                raise InvalidRequest(f"cluster {cluster_id}: a cluster needs at least one host")
            self._write_meta(cluster_id, {"site": site, "owner": owner, "shared": shared})
            await self._control_plane_up(cluster_id)
            await self._create_nodes(cluster_id, hosts)
        return await self.get_cluster(cluster_id)  # type: ignore[return-value]

    async def _create_nodes(self, cluster_id: str, hosts: list[Host]) -> None:
        """Nodes join with the kubelet of the control plane they join (as kubeadm would install)."""
        api = await self.api_client(cluster_id)
        await create_nodes(cluster_id, client.CoreV1Api(api), hosts, await control_plane_version(cluster_id, api))

    async def add_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster:
        meta = self._meta(cluster_id)
        if meta is None:
            raise NotFound(f"cluster {cluster_id} does not exist")
        hosts = self._site_hosts(meta["site"], host_ids)
        await self._create_nodes(cluster_id, hosts)
        return await self.get_cluster(cluster_id)  # type: ignore[return-value]

    async def drain_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], partial: bool) -> DrainResult:
        """Cordon, then restart each Legato Deployment with a pod on the nodes (kube-scheduler puts
        every replacement on another node and the old pod goes once it is ready) and evict the
        other pods; see `nodes.drain`. Returns once the moves are started: kwok runs pods at once,
        so the nodes are usually empty within seconds, as `busy_nodes` tells. Serialised per
        cluster, so two drains do not both count the same free room. A cluster that is gone has
        nothing to drain."""
        if self._meta(cluster_id) is None:
            return DrainResult()
        api = await self.api_client(cluster_id)
        async with self._lock(cluster_id):
            return await drain(cluster_id, client.CoreV1Api(api), client.AppsV1Api(api), op_id, host_ids, partial)

    async def busy_nodes(self, cluster_id: str, host_ids: list[str]) -> dict[str, int]:
        """Pods each node still holds, terminating ones included and DaemonSet pods excluded; a node
        that is not (or no longer) in the cluster holds 0."""
        if self._meta(cluster_id) is None:
            return dict.fromkeys(host_ids, 0)
        return await busy(cluster_id, client.CoreV1Api(await self.api_client(cluster_id)), host_ids)

    async def remove_nodes(self, op_id: str, cluster_id: str, host_ids: list[str]) -> Cluster | None:
        """Delete the Node objects, which must hold no pod any more (TransientFault otherwise: the
        drain is still under way, try again). Nodes already gone are skipped, so a retry succeeds."""
        if self._meta(cluster_id) is None:
            return None
        async with self._lock(cluster_id):
            await remove(cluster_id, client.CoreV1Api(await self.api_client(cluster_id)), host_ids)
        return await self.get_cluster(cluster_id)

    # ---- upgrades: the control plane restarted on another release's binaries, then node by node

    def releases(self) -> dict[str, Path]:
        """The control-plane releases the test bed carries, by version: the core's binaries in
        `bin_dir` and each further release in `bin_dir/kube-<version>/` (scripts/testbed.d/kube-next.sh)."""
        if self._releases is None:
            found = {}
            for d in (self.bin_dir, *sorted(self.bin_dir.glob("kube-v*"))):
                if not all((d / b).exists() for b in CONTROL_PLANE):
                    continue
                out = subprocess.run([str(d / "kube-apiserver"), "--version"], capture_output=True, text=True,
                                     timeout=30).stdout  # fmt: skip
                try:
                    found[canonical(out.split()[-1])] = d
                except (ValueError, IndexError):
                    continue
            self._releases = dict(sorted(found.items(), key=lambda kv: parse(kv[0])))
        return self._releases

    async def kubernetes_versions(self, cluster_id: str) -> list[str]:
        if self._meta(cluster_id) is None:
            raise NotFound(f"cluster {cluster_id} does not exist")
        return list(await asyncio.to_thread(self.releases))

    async def upgrade_control_plane(self, op_id: str, cluster_id: str, version: str) -> Cluster:
        """Restart kube-apiserver, kube-controller-manager and kube-scheduler on the release's
        binaries (recorded in the cluster's kwok.yaml, so a later `kwokctl start` keeps them); the
        state is in etcd, which keeps running, as does kwok, so pods stay Ready throughout. Returns
        once the new API server answers."""
        if self._meta(cluster_id) is None:
            raise NotFound(f"cluster {cluster_id} does not exist")
        async with self._lock(cluster_id):
            current = await control_plane_version(cluster_id, await self.api_client(cluster_id))
            releases = await asyncio.to_thread(self.releases)
            if canonical_or_none(version) != canonical(current):
                refusal = upgrade_refusal(current, version, list(releases))
                if refusal:
                    raise InvalidRequest(f"cluster {cluster_id}: {refusal}")
                await self._restart_control_plane(cluster_id, releases[canonical(version)])
                # The restarted node controller may taint nodes whose heartbeats it missed meanwhile:
                # done once every node takes pods again, as a drain then counts on them.
                core = client.CoreV1Api(await self.api_client(cluster_id))
                for name in await kubelet_versions(cluster_id, core):
                    await self._schedulable(cluster_id, core, name)
        return await self.get_cluster(cluster_id)  # type: ignore[return-value]

    async def upgrade_nodes(self, op_id: str, cluster_id: str, host_ids: list[str], version: str) -> Cluster | None:
        """Replace each node (deleted, then created again under its name with the new kubelet
        version), one after the other; a node still holding a pod is refused (TransientFault)."""
        meta = self._meta(cluster_id)
        if meta is None:
            return None
        api = await self.api_client(cluster_id)
        core = client.CoreV1Api(api)
        async with self._lock(cluster_id):
            current = await control_plane_version(cluster_id, api)
            if canonical_or_none(version) != canonical(current):
                raise InvalidRequest(f"cluster {cluster_id}: nodes can only move to the control plane's version "
                                     f"({current}), not {version}: upgrade the control plane first")
            kubelets = await kubelet_versions(cluster_id, core)
            replace = [h for h in dict.fromkeys(host_ids) if h in kubelets and kubelets[h] != current]
            held = {h: n for h, n in (await busy(cluster_id, core, replace)).items() if n}
            if held:
                raise TransientFault(f"cluster {cluster_id}: nodes still run pods {held}; drain them before "
                                     "replacing them")
            for host_id in replace:
                await remove(cluster_id, core, [host_id])
                await create_nodes(cluster_id, core, self._site_hosts(meta["site"], [host_id]), current)
                await self._schedulable(cluster_id, core, host_id)
        return await self.get_cluster(cluster_id)

    async def _schedulable(self, cluster_id: str, core: client.CoreV1Api, name: str) -> None:
        """Until the new Node is Ready and carries no NoSchedule taint (the node controller taints a
        new node not-ready until kwok's first heartbeat): back, and taking pods."""
        for _ in range(int(self.start_timeout * 10)):
            node = await call(cluster_id, lambda: core.read_node(name))
            ready = any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))
            tainted = any(t.effect in ("NoSchedule", "NoExecute") for t in (node.spec.taints or []))
            if ready and not tainted and not node.spec.unschedulable:
                return
            await asyncio.sleep(0.1)
        raise TransientFault(f"cluster {cluster_id}: node {name} is not Ready after its replacement")

    async def _restart_control_plane(self, cluster_id: str, release: Path) -> None:
        config_path = self.workdir / "clusters" / cluster_id / "kwok.yaml"
        docs = list(yaml.safe_load_all(config_path.read_text()))
        options = {"kube-apiserver": "kubeApiserverBinary", "kube-controller-manager": "kubeControllerManagerBinary",
                   "kube-scheduler": "kubeSchedulerBinary"}  # fmt: skip
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            for component in doc.get("components") or []:
                if component.get("name") in CONTROL_PLANE:
                    component["binary"] = str(release / component["name"])
            for name, key in options.items():
                if key in (doc.get("options") or {}):
                    doc["options"][key] = str(release / name)
        tmp = config_path.with_suffix(".yaml.new")
        tmp.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        tmp.replace(config_path)
        for name in CONTROL_PLANE:
            await self._stop(cluster_id, name)
        await self._kwokctl(cluster_id, "start", "cluster")  # starts what is not running: the three
        if not await self._answers(cluster_id):
            raise TransientFault(f"cluster {cluster_id}: the API server does not answer after its upgrade")

    async def _stop(self, cluster_id: str, component: str) -> None:
        """Stop one control-plane process by the pid file kwokctl keeps, as `kwokctl stop` does
        (SIGKILL: the state is etcd's, and kube-apiserver's graceful stop holds on a minute for its
        watchers), and wait until it is gone: `kwokctl start` skips a process still alive."""
        pid_file = self.workdir / "clusters" / cluster_id / "pids" / f"{component}.pid"
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return
        for _ in range(300):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.1)
        raise TransientFault(f"cluster {cluster_id}: {component} (pid {pid}) does not stop")

    async def delete_cluster(self, op_id: str, cluster_id: str) -> None:
        meta = self._meta(cluster_id)
        if meta is None:
            return
        if meta["shared"]:
            raise InvalidRequest(f"cluster {cluster_id} is a shared cluster of the topology, not Legato's")
        async with self._lock(cluster_id):
            self._clients.pop(cluster_id, None)
            if (self.workdir / "clusters" / cluster_id).exists():
                await self._kwokctl(cluster_id, "delete", "cluster")
            (self.meta_dir / f"{cluster_id}.json").unlink(missing_ok=True)

    # ---- helpers

    def _site_hosts(self, site: str, host_ids: list[str]) -> list[Host]:
        for host_id in host_ids:
            if host_id not in self.hosts or self.hosts[host_id].site != site:
                raise InvalidRequest(f"host {host_id} does not exist at site {site}")
        return [self.hosts[h] for h in dict.fromkeys(host_ids)]

    def _lock(self, cluster_id: str) -> asyncio.Lock:
        return self._locks.setdefault(cluster_id, asyncio.Lock())

    async def _control_plane_up(self, cluster_id: str) -> None:
        """Create the control plane, or restart one whose processes are gone (after a reboot)."""
        if self._kubeconfig(cluster_id).exists() and await self._answers(cluster_id):
            return
        if (self.workdir / "clusters" / cluster_id).exists():
            try:
                await self._kwokctl(cluster_id, "start", "cluster")
                if await self._answers(cluster_id):
                    return
            except TransientFault:
                pass
            await self._kwokctl(cluster_id, "delete", "cluster")  # half made: start again
        flags = [f"--{b if b != 'kwok' else 'kwok-controller'}-binary={self.bin_dir / b}" for b in BINARIES]
        flags.append(ports_config(self.workdir, cluster_id))
        try:
            await self._kwokctl(cluster_id, "create", "cluster", "--runtime=binary", "--kubeconfig=", "--quiet-pull",
                                f"--wait={self.start_timeout:g}s", *flags)  # fmt: skip
        except TransientFault:  # no half-made control plane left running until the retry
            with contextlib.suppress(TransientFault):
                await self._kwokctl(cluster_id, "delete", "cluster")
            raise
        self._clients.pop(cluster_id, None)
        if not await self._answers(cluster_id):
            raise TransientFault(f"cluster {cluster_id}: the API server does not answer after kwokctl create")

    async def _answers(self, cluster_id: str) -> bool:
        self._clients.pop(cluster_id, None)
        try:
            core = client.CoreV1Api(await self.api_client(cluster_id))
            await call(cluster_id, lambda: core.list_namespace(_request_timeout=5))
            return True
        except (TransientFault, NotFound):
            return False

    async def _kwokctl(self, cluster_id: str, *args: str) -> str:
        exe = self.bin_dir / "kwokctl"
        if not exe.exists():
            raise InvalidRequest(f"kwokctl not found in {self.bin_dir}: run scripts/testbed.sh")
        env = {**os.environ, "KWOK_WORKDIR": str(self.workdir)}
        proc = await asyncio.create_subprocess_exec(
            str(exe), f"--name={cluster_id}", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.start_timeout + 30)
        except TimeoutError:
            proc.kill()
            raise TransientFault(f"cluster {cluster_id}: kwokctl {' '.join(args[:2])} timed out") from None
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise TransientFault(f"cluster {cluster_id}: kwokctl {' '.join(args[:2])} failed: {text[-600:]}")
        return text
