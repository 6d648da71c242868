"""A Cluster API infrastructure provider for the test bed, whose machines are kwok nodes of a real
control plane (see docs/design.md, "Cluster API", for why not CAPI's in-memory provider).

It keeps the InfraCluster and InfraMachine contracts (v1beta2) as a real provider does, so the real
core, kubeadm bootstrap and kubeadm control-plane managers drive it unchanged:

- `KwokCluster`: gets a free port as `spec.controlPlaneEndpoint` and is `provisioned` at once (the
  API server itself runs on the first control-plane machine, as with kubeadm on bare metal).
- `KwokMachine`: waits for its Machine's bootstrap data, as a real provider does before it boots
  a host. With `spec.hostSelector` it claims a free `KwokHost` matching it (writing
  `spec.consumerRef`, as Metal3 claims a BareMetalHost) and becomes the node named after the host,
  sized by it; without one it is a control-plane machine on no host of Legato's. The first
  control-plane machine starts the workload cluster's control plane with `kwokctl`, using the CA
  KubeadmControlPlane generated (secret `<cluster>-ca`), so the kubeconfig CAPI writes for the
  cluster is valid against it; it writes what `kubeadm init` leaves that KCP reads (the
  `kubeadm-config` ConfigMap, the static pods `kube-apiserver-<node>` etc., which kwok runs).
  Etcd is the one kwokctl runs, declared external in the KubeadmControlPlane, so KCP manages no
  etcd members (it would port-forward to etcd pods that do not exist).
- Deletion: a machine frees its host and removes its node; a cluster stops its control plane once
  its machines are gone. Finalizers hold the objects until then, as CAPI expects.

Reconciles by polling every half second: a test bed of a few clusters, not a production controller."""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import ipaddress
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from legato.adapters.mcm.kwok import ports_config
from legato.devserver import free_port

GROUP, VERSION = "infrastructure.legato.test", "v1alpha1"
FINALIZER = "infrastructure.legato.test/kwok"
CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name"
CONTROL_PLANE_LABEL = "cluster.x-k8s.io/control-plane"
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
BINARIES = {"etcd": "etcd", "kube-apiserver": "kube-apiserver", "kube-controller-manager": "kube-controller-manager",
            "kube-scheduler": "kube-scheduler", "kwok-controller": "kwok"}  # fmt: skip
log = logging.getLogger("capi-kwok-provider")


class Provider:
    def __init__(self, kubeconfig: Path, workdir: Path, bin_dir: Path) -> None:
        self.api = config.new_client_from_config(str(kubeconfig))
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.workdir, self.bin_dir = workdir, bin_dir

    # ---- the loop

    def run(self) -> None:
        while True:
            for reconcile in (self.reconcile_clusters, self.reconcile_machines):
                try:
                    reconcile()
                except Exception:  # a test bed controller logs and tries again, like any controller
                    log.exception("reconcile failed")
            time.sleep(0.5)

    def list(self, plural: str) -> list[dict]:
        return self.custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]

    def patch(self, obj: dict, plural: str, body: dict, status: bool = False) -> None:
        md = obj["metadata"]
        fn = (self.custom.patch_namespaced_custom_object_status if status
              else self.custom.patch_namespaced_custom_object)  # fmt: skip
        fn(GROUP, VERSION, md["namespace"], plural, md["name"], body)

    def finalized(self, obj: dict, plural: str) -> None:
        """Drop the finalizer: the object may go."""
        md = obj["metadata"]
        rest = [f for f in md.get("finalizers", []) if f != FINALIZER]
        self.patch(obj, plural, {"metadata": {"finalizers": rest, "resourceVersion": md["resourceVersion"]}})

    def hold(self, obj: dict, plural: str) -> None:
        if FINALIZER not in obj["metadata"].get("finalizers", []):
            self.patch(obj, plural, {"metadata": {"finalizers": [*obj["metadata"].get("finalizers", []), FINALIZER]}})

    # ---- KwokCluster

    def reconcile_clusters(self) -> None:
        for kc in self.list("kwokclusters"):
            md = kc["metadata"]
            if md.get("deletionTimestamp"):
                machines = [
                    m
                    for m in self.list("kwokmachines")
                    if m["metadata"]["namespace"] == md["namespace"]
                    and m["metadata"].get("labels", {}).get(CLUSTER_LABEL) == self.cluster_of(kc)
                ]
                if not machines:
                    self.kwokctl(self.name(md["namespace"], self.cluster_of(kc)), "delete", "cluster")
                    self.finalized(kc, "kwokclusters")
                continue
            self.hold(kc, "kwokclusters")
            self.external_etcd_secrets(md["namespace"], self.cluster_of(kc))
            if not kc.get("spec", {}).get("controlPlaneEndpoint", {}).get("port"):
                self.patch(
                    kc, "kwokclusters", {"spec": {"controlPlaneEndpoint": {"host": "127.0.0.1", "port": free_port()}}}
                )
            if not kc.get("status", {}).get("initialization", {}).get("provisioned"):
                self.patch(kc, "kwokclusters", {"status": {"initialization": {"provisioned": True}}}, status=True)

    def external_etcd_secrets(self, ns: str, cluster: str) -> None:
        """What the owner of an external etcd gives KubeadmControlPlane: the etcd CA and the API
        server's client certificate, as `<cluster>-etcd` and `<cluster>-apiserver-etcd-client`.
        The etcd here is kwokctl's, which the workload control plane reaches with kwokctl's own
        certificates, so these are never used to connect: KCP only insists that they exist."""
        for purpose in ("etcd", "apiserver-etcd-client"):
            name = f"{cluster}-{purpose}"
            try:
                self.core.read_namespaced_secret(name, ns)
                continue
            except ApiException as err:
                if err.status != 404:
                    raise
            crt, key = self_signed(name)
            data = {"tls.crt": base64.b64encode(crt).decode(), "tls.key": base64.b64encode(key).decode()}
            ignore_conflict(lambda n=name, d=data: self.core.create_namespaced_secret(ns, {
                "metadata": {"name": n, "labels": {CLUSTER_LABEL: cluster}}, "type": "cluster.x-k8s.io/secret",
                "data": d}))  # fmt: skip

    @staticmethod
    def cluster_of(obj: dict) -> str:
        """The Cluster an infrastructure object serves: CAPI labels what it owns; a KwokCluster is
        owned by its Cluster."""
        labels = obj["metadata"].get("labels", {})
        if CLUSTER_LABEL in labels:
            return labels[CLUSTER_LABEL]
        owners = [o["name"] for o in obj["metadata"].get("ownerReferences", []) if o["kind"] == "Cluster"]
        return owners[0] if owners else obj["metadata"]["name"]

    # ---- KwokMachine

    def reconcile_machines(self) -> None:
        hosts = self.list("kwokhosts")
        for km in self.list("kwokmachines"):
            md = km["metadata"]
            cluster = md.get("labels", {}).get(CLUSTER_LABEL)
            if cluster is None:
                continue  # CAPI labels it once it owns it
            if md.get("deletionTimestamp"):
                self.delete_machine(km, cluster, hosts)
                continue
            self.hold(km, "kwokmachines")
            if km.get("status", {}).get("initialization", {}).get("provisioned"):
                continue
            self.provision(km, cluster, hosts)

    def machine(self, km: dict) -> dict | None:
        owners = [o["name"] for o in km["metadata"].get("ownerReferences", []) if o["kind"] == "Machine"]
        if not owners:
            return None
        return self.custom.get_namespaced_custom_object(
            "cluster.x-k8s.io", "v1beta2", km["metadata"]["namespace"], "machines", owners[0]
        )

    def provision(self, km: dict, cluster: str, hosts: list[dict]) -> None:
        ns, name = km["metadata"]["namespace"], km["metadata"]["name"]
        machine = self.machine(km)
        if machine is None or not machine.get("spec", {}).get("bootstrap", {}).get("dataSecretName"):
            return  # no bootstrap data yet: a real host would have nothing to boot
        control_plane = CONTROL_PLANE_LABEL in machine["metadata"].get("labels", {})
        selector = km.get("spec", {}).get("hostSelector", {}).get("matchLabels")
        host = None
        if selector is not None:
            host = self.claim(km, selector, hosts)
            if host is None:
                return  # no free host matches yet: wait for one, as Metal3 does
        node = host["metadata"]["name"] if host else name
        workload = self.name(ns, cluster)
        if control_plane and not self.kubeconfig(workload).exists():
            self.start_control_plane(ns, cluster, machine)
        elif control_plane and self.running_version(workload) != machine["spec"].get("version"):
            self.upgrade_control_plane(workload, machine["spec"]["version"])
        if not self.kubeconfig(workload).exists():
            return  # a worker waits for the control plane
        wl = client.CoreV1Api(config.new_client_from_config(str(self.kubeconfig(workload))))
        provider_id = f"kwok://{ns}/{cluster}/{node}"
        self.create_node(wl, node, provider_id, host, control_plane, machine["spec"].get("version", ""))
        if control_plane:
            self.write_kubeadm_state(wl, node, machine)
        self.patch(km, "kwokmachines", {"spec": {"providerID": provider_id}})
        self.patch(km, "kwokmachines", {"status": {
            "initialization": {"provisioned": True},
            "addresses": [{"type": "Hostname", "address": node}, {"type": "InternalIP", "address": "127.0.0.1"}],
        }}, status=True)  # fmt: skip
        log.info("machine %s/%s is node %s of %s", ns, name, node, cluster)

    def claim(self, km: dict, selector: dict[str, str], hosts: list[dict]) -> dict | None:
        """The host this machine holds, or a free one matching the selector (claimed with the
        host's resourceVersion, so two machines never take the same host)."""
        ns, name = km["metadata"]["namespace"], km["metadata"]["name"]
        mine = {"kind": "KwokMachine", "namespace": ns, "name": name}
        for host in hosts:
            if host.get("spec", {}).get("consumerRef") == mine:
                return host
        for host in hosts:
            labels = host["metadata"].get("labels", {})
            if host["metadata"]["namespace"] != ns or host.get("spec", {}).get("consumerRef"):
                continue
            if all(labels.get(k) == v for k, v in selector.items()):
                try:
                    name = host["metadata"]["name"]
                    self.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "kwokhosts", name, {
                        "metadata": {"resourceVersion": host["metadata"]["resourceVersion"]},
                        "spec": {"consumerRef": mine}})  # fmt: skip
                except ApiException as err:
                    if err.status == 409:
                        return None  # taken meanwhile: the next pass looks again
                    raise
                return host
        return None

    def delete_machine(self, km: dict, cluster: str, hosts: list[dict]) -> None:
        ns, name = km["metadata"]["namespace"], km["metadata"]["name"]
        mine = {"kind": "KwokMachine", "namespace": ns, "name": name}
        node = next((h["metadata"]["name"] for h in hosts if h.get("spec", {}).get("consumerRef") == mine), name)
        kubeconfig = self.kubeconfig(self.name(ns, cluster))
        if kubeconfig.exists() and km.get("spec", {}).get("providerID"):
            try:
                client.CoreV1Api(config.new_client_from_config(str(kubeconfig))).delete_node(node, _request_timeout=5)
            except ApiException as err:
                if err.status != 404:
                    raise
            except Exception:  # the control plane is already gone: nothing to remove there
                pass
        for host in hosts:
            if host.get("spec", {}).get("consumerRef") == mine:
                self.custom.patch_namespaced_custom_object(
                    GROUP, VERSION, ns, "kwokhosts", host["metadata"]["name"], {"spec": {"consumerRef": None}}
                )
        self.finalized(km, "kwokmachines")
        log.info("machine %s/%s deleted, host %s free", ns, name, node)

    # ---- the workload cluster

    @staticmethod
    def name(namespace: str, cluster: str) -> str:
        return f"{namespace}-{cluster}"

    def kubeconfig(self, workload: str) -> Path:
        return self.workdir / "clusters" / workload / "kubeconfig.yaml"

    def start_control_plane(self, ns: str, cluster: str, machine: dict) -> None:
        """kwokctl with the cluster's CA (from KubeadmControlPlane) and the endpoint CAPI published."""
        ca = self.core.read_namespaced_secret(f"{cluster}-ca", ns)
        kc = self.custom.get_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", ns, "clusters", cluster)
        port = kc["spec"]["controlPlaneEndpoint"]["port"]
        workload = self.name(ns, cluster)
        pki = self.workdir / "clusters" / workload / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca_crt, ca_key = (base64.b64decode(ca.data[k]) for k in ("tls.crt", "tls.key"))
        (pki / "ca.crt").write_bytes(ca_crt)
        (pki / "ca.key").write_bytes(ca_key)
        crt, key = admin_certificate(ca_crt, ca_key)
        (pki / "admin.crt").write_bytes(crt)
        (pki / "admin.key").write_bytes(key)
        version = machine["spec"].get("version", "")
        binaries = [f"--{flag}-binary={self.release(version, b) / b}" for flag, b in BINARIES.items()]
        log.info("starting the control plane of %s/%s on port %s", ns, cluster, port)
        self.kwokctl(workload, "create", "cluster", "--runtime=binary", "--kubeconfig=", "--quiet-pull", "--wait=120s",
                     ports_config(self.workdir, workload, apiserver=port), *binaries)  # fmt: skip
        (self.workdir / "clusters" / workload / "version").write_text(version)
        log.info("control plane of %s/%s on port %s", ns, cluster, port)

    def release(self, version: str, binary: str) -> Path:
        """Where the test bed keeps a control-plane binary of that release: the core's in bin, the
        next minor's in bin/kube-<version>/ (scripts/testbed.d/kube-next.sh); etcd and kwok are one."""
        other = self.bin_dir / f"kube-{version}"
        return other if binary in STATIC_PODS and (other / binary).exists() else self.bin_dir

    def running_version(self, workload: str) -> str:
        path = self.workdir / "clusters" / workload / "version"
        return path.read_text() if path.exists() else ""

    def upgrade_control_plane(self, workload: str, version: str) -> None:
        """A control-plane machine of a new version: the workload control plane restarted on that
        release's binaries (its state is in etcd, and pods, kwok's, keep their status)."""
        log.info("control plane of %s to %s", workload, version)
        config_path = self.workdir / "clusters" / workload / "kwok.yaml"
        docs = list(yaml.safe_load_all(config_path.read_text()))
        for doc in docs:
            for component in (doc or {}).get("components") or []:
                if component.get("name") in STATIC_PODS:
                    component["binary"] = str(self.release(version, component["name"]) / component["name"])
        config_path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        # Only the three stop (etcd and kwok run on, so nodes and pods keep what kwok wrote on them);
        # `kwokctl start` then starts what is not running, from kwok.yaml.
        for component in STATIC_PODS:
            pid = int((self.workdir / "clusters" / workload / "pids" / f"{component}.pid").read_text().strip())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        self.kwokctl(workload, "start", "cluster")
        (self.workdir / "clusters" / workload / "version").write_text(version)

    def create_node(
        self, wl: client.CoreV1Api, node: str, provider_id: str, host: dict | None, control_plane: bool, version: str
    ) -> None:
        """A kwok node reporting the Machine's Kubernetes version as its kubelet's."""
        capacity = (host or {}).get("spec", {}).get("capacity") or {"cpu": "2", "memory": "4Gi", "pods": "110"}
        labels = {"kubernetes.io/hostname": node, "type": "kwok"}
        taints = []
        if control_plane:
            labels["node-role.kubernetes.io/control-plane"] = ""
            taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
                "spec": {"providerID": provider_id, "taints": taints},
                "status": {"capacity": capacity, "allocatable": capacity,
                           "nodeInfo": {"kubeletVersion": version}}}  # fmt: skip
        # Created with its size (kwok fills in defaults for a node it finds without one), then, once
        # kwok has made it Ready, its kubelet's version (the typed client refuses a partial nodeInfo).
        sized = {**body, "status": {k: v for k, v in body["status"].items() if k != "nodeInfo"}}
        ignore_conflict(lambda: wl.create_node(sized))
        deadline = time.monotonic() + 30  # kwok's first pass writes a nodeInfo of its own: wait for it
        while time.monotonic() < deadline and not any(
                c.type == "Ready" and c.status == "True" for c in wl.read_node(node).status.conditions or []):
            time.sleep(0.2)
        wl.patch_node_status(node, {"status": body["status"]})

    def write_kubeadm_state(self, wl: client.CoreV1Api, node: str, machine: dict) -> None:
        """What `kubeadm init` leaves that KubeadmControlPlane reads: the kubeadm-config ConfigMap
        (its presence marks the control plane initialized) and the static pods of each component
        (plain pods on the node, reported Running and Ready as a kubelet reports static pods)."""
        version = machine["spec"].get("version", "v1.34.4")
        conf = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration", "kubernetesVersion": version,
                "etcd": {"external": {"endpoints": ["https://127.0.0.1:2379"]}}}  # fmt: skip
        cm = {
            "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": yaml.safe_dump(conf)},
        }
        ignore_conflict(lambda: wl.create_namespaced_config_map("kube-system", cm))
        for component in STATIC_PODS:
            pod = {"metadata": {"name": f"{component}-{node}", "namespace": "kube-system",
                                "labels": {"component": component, "tier": "control-plane"}},
                   "spec": {"nodeName": node, "containers": [{"name": component, "image": f"{component}:{version}"}],
                            "tolerations": [{"operator": "Exists"}]}}  # fmt: skip
            ignore_conflict(lambda p=pod: wl.create_namespaced_pod("kube-system", p))
            # Running and Ready, as the kubelet reports its static pods: written here, not left to
            # kwok, whose watches can miss a pod made just after its API server restarted (an upgrade).
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            ready = [{"type": t, "status": "True", "lastTransitionTime": now}
                     for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]  # fmt: skip
            wl.patch_namespaced_pod_status(pod["metadata"]["name"], "kube-system", {"status": {
                "phase": "Running", "conditions": ready, "startTime": now,
                "containerStatuses": [{"name": component, "image": f"{component}:{version}", "imageID": "",
                                       "ready": True, "restartCount": 0, "started": True,
                                       "state": {"running": {"startedAt": now}}}]}})  # fmt: skip

    def kwokctl(self, workload: str, *args: str) -> None:
        env = {**os.environ, "KWOK_WORKDIR": str(self.workdir)}
        done = subprocess.run([str(self.bin_dir / "kwokctl"), f"--name={workload}", *args], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"kwokctl {' '.join(args[:2])} {workload}: {done.stdout[-400:]} {done.stderr[-400:]}")


def ignore_conflict(fn) -> None:
    try:
        fn()
    except ApiException as err:
        if err.status != 409:
            raise


def self_signed(cn: str) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM), pem(key)


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())  # fmt: skip


def admin_certificate(ca_crt: bytes, ca_key: bytes) -> tuple[bytes, bytes]:
    """What kwokctl would make with its own CA, made with the cluster's: one certificate for the
    API server's serving and for its components as clients (system:masters), valid for 127.0.0.1."""
    ca = x509.load_pem_x509_certificate(ca_crt)
    signer = serialization.load_pem_private_key(ca_key, password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)

    sans = [x509.DNSName(n) for n in ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost")]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "10.0.0.1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kwok-admin"),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                              x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(signer, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM), pem(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True, help="the management cluster")
    parser.add_argument("--workdir", type=Path, required=True, help="kwokctl's work directory for workload clusters")
    parser.add_argument("--bin", type=Path, required=True, help="the test bed's binaries")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s capi-kwok-provider %(message)s")
    Provider(args.kubeconfig, args.workdir, args.bin).run()


if __name__ == "__main__":
    main()
