"""A Cluster API management cluster on the test bed: a kwok control plane (a real kube-apiserver)
with the CAPI CRDs, the real core, kubeadm bootstrap and kubeadm control-plane managers
(scripts/testbed.d/capi.sh), and the test bed's kwok infrastructure provider (capi_provider/), each a
process of its own logging into the work directory. `hosts` are enrolled as KwokHosts, as an
operator enrols BareMetalHosts with Metal3 before anything can be built on them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config, utils

from legato.adapters.mcm.kwok import ports_config
from legato.adapters.mcm.nodes import kwok_node
from legato.config import PROJECT_ROOT
from legato.devserver import free_port
from legato.model import Host
from legato.model.backends import ClusterAPISite, InfrastructureProvider
from tests.real.capi_provider.provider import BINARIES
from tests.real.testbed import require

MANAGERS = ("capi-manager", "capi-kubeadm-bootstrap-manager", "capi-kubeadm-control-plane-manager")
PROVIDER_CRDS = Path(__file__).parent / "capi_provider" / "crds.yaml"
NAMESPACE = "legato"
MANAGEMENT = "capi-management"


def capi_bin(kube_bin: Path) -> Path:
    return require(kube_bin, [*MANAGERS, "capi-crds"], "Cluster API binaries", "scripts/testbed.sh (testbed.d/capi.sh)")


def site_config(kubeconfig: Path, **extra) -> ClusterAPISite:
    """The clusterapi section of a test-bed site: the kwok provider's kinds, its hosts, etcd
    external (the workload control plane's own, which kwokctl runs)."""
    return ClusterAPISite(
        kubeconfig=str(kubeconfig), namespace=NAMESPACE, kubernetes_version="v1.34.4",
        kubeadm={"clusterConfiguration": {"etcd": {"external": {
            "endpoints": ["https://127.0.0.1:2379"], "caFile": "/etc/kubernetes/pki/etcd/ca.crt",
            "certFile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
            "keyFile": "/etc/kubernetes/pki/apiserver-etcd-client.key"}}}},
        infrastructure=InfrastructureProvider(
            api_version="infrastructure.legato.test/v1alpha1", cluster_kind="KwokCluster",
            machine_template_kind="KwokMachineTemplate", host_resource="kwokhosts.v1alpha1.infrastructure.legato.test",
        ),
        **({"ready_timeout_seconds": 100} | extra),
    )  # fmt: skip


@dataclass
class ManagementCluster:
    bin: Path
    workdir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "clusters" / MANAGEMENT / "kubeconfig.yaml"

    @property
    def api(self) -> client.ApiClient:
        return config.new_client_from_config(str(self.kubeconfig))

    def kwokctl(self, name: str, *args: str) -> None:
        env = {**os.environ, "KWOK_WORKDIR": str(self.workdir)}
        subprocess.run([str(self.bin / "kwokctl"), f"--name={name}", *args], env=env, check=True,
                       capture_output=True, timeout=300)  # fmt: skip

    def start(self) -> None:
        flags = [f"--{f}-binary={self.bin / b}" for f, b in BINARIES.items()]
        self.kwokctl(MANAGEMENT, "create", "cluster", "--runtime=binary", "--kubeconfig=", "--quiet-pull",
                     "--wait=120s", ports_config(self.workdir, MANAGEMENT), *flags)  # fmt: skip
        api = self.api
        for crd in sorted((self.bin / "capi-crds").glob("*.yaml")) + [PROVIDER_CRDS]:
            utils.create_from_yaml(api, str(crd))
        ext = client.ApiextensionsV1Api(api)
        deadline = time.monotonic() + 60
        while not all(any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))
                      for crd in ext.list_custom_resource_definition().items):  # fmt: skip
            assert time.monotonic() < deadline, "CRDs not established"
            time.sleep(0.2)
        client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
        certs = self.bin / "capi-webhook-certs"
        for manager in MANAGERS:
            self.spawn(manager, [str(self.bin / manager), f"--kubeconfig={self.kubeconfig}", "--leader-elect=false",
                                 f"--webhook-port={free_port()}", f"--webhook-cert-dir={certs}",
                                 f"--health-addr=127.0.0.1:{free_port()}", "--insecure-diagnostics",
                                 f"--diagnostics-address=127.0.0.1:{free_port()}", "--v=2"])  # fmt: skip
        self.spawn("capi-kwok-provider", [sys.executable, "-m", "tests.real.capi_provider",
                                          f"--kubeconfig={self.kubeconfig}", f"--workdir={self.workdir / 'workload'}",
                                          f"--bin={self.bin}"])  # fmt: skip

    def spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115  (the process's, closed when it ends)
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT))

    def enrol(self, hosts: list[Host]) -> None:
        """Each host as a KwokHost sized like it (what the operator's BareMetalHosts are to Metal3)."""
        custom = client.CustomObjectsApi(self.api)
        for host in hosts:
            capacity = kwok_node(host)["status"]["capacity"]
            custom.create_namespaced_custom_object("infrastructure.legato.test", "v1alpha1", NAMESPACE, "kwokhosts", {
                "apiVersion": "infrastructure.legato.test/v1alpha1", "kind": "KwokHost",
                "metadata": {"name": host.id}, "spec": {"capacity": capacity}})  # fmt: skip

    def objects(self, plural: str, group: str = "cluster.x-k8s.io", version: str = "v1beta2") -> list[dict]:
        found = client.CustomObjectsApi(self.api).list_namespaced_custom_object(group, version, NAMESPACE, plural)
        return found["items"]

    def stop(self) -> None:
        """Every workload control plane the provider started, the managers, then the management cluster."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        workload = self.workdir / "workload" / "clusters"
        for name in sorted(p.name for p in workload.iterdir()) if workload.exists() else []:
            env = {**os.environ, "KWOK_WORKDIR": str(self.workdir / "workload")}
            subprocess.run([str(self.bin / "kwokctl"), f"--name={name}", "delete", "cluster"], env=env,
                           capture_output=True, timeout=120)  # fmt: skip
        self.kwokctl(MANAGEMENT, "delete", "cluster")

    def logs(self) -> str:
        """The last lines of each process's log, for a failing test's report."""
        out = []
        for path in sorted(self.workdir.glob("*.log")):
            out.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(out)


def management_cluster(kube_bin: Path, workdir: Path, hosts: list[Host]) -> ManagementCluster:
    mc = ManagementCluster(capi_bin(kube_bin), workdir)
    try:
        mc.start()
        mc.enrol(hosts)
    except BaseException:
        mc.stop()
        raise
    return mc



