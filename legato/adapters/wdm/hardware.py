"""Hardware a component asks for, as Kubernetes schedules it: extended resources a node advertises
and a pod requests, Guaranteed QoS with whole CPUs where cores are pinned, and the Multus network
attachment an SR-IOV interface needs. The same table sizes what a node advertises (the kwok MCM) and
what a pod requests (the Kubernetes WDM), so kube-scheduler admits a pod only on a node that has it.

| feature | a replica requests (= limits) | a node whose host has it advertises |
|---|---|---|
| `gpu: N` (any `gpu-*` model) | `nvidia.com/gpu: N`; the model is a node label | `nvidia.com/gpu`: its GPUs |
| `sriov` | `intel.com/sriov_netdevice: 1` (a VF), the Multus annotation | one VF per whole vCPU |
| | `k8s.v1.cni.cncf.io/networks`; whole CPUs | |
| `hugepages` | `memory_mb` as `hugepages-1Gi`, and 256 MiB of memory | `hugepages-1Gi`: its memory in GiB |
| `dpdk` | whole CPUs (Guaranteed QoS: the static CPU manager pins them) | a label |
| every feature | a node selector `feature.legato.io/<name>: "true"` | the label |

Placement counts CPUs, memory and GPUs per node, and the table is sized so that a device never runs
out before them: a VF per whole vCPU, with SR-IOV replicas asking whole CPUs, can never be short while
CPUs are not; huge pages are the node's memory, asked by replicas whose `memory_mb` is whole GiB, so
they are never short while memory is not. So when no node has room, placement says so before anything
is deployed, and kube-scheduler never refuses what placement granted. `hardware_errors` states the
two rules a spec must follow for this (the API refuses the others with a 422)."""

from __future__ import annotations

import json
import math

from legato.model import Host

GPU = "nvidia.com/gpu"
SRIOV = "intel.com/sriov_netdevice"  # the SR-IOV network device plugin's resource (its resourceName)
HUGEPAGES = "hugepages-1Gi"
NETWORKS = "k8s.v1.cni.cncf.io/networks"  # Multus: the extra interfaces of a pod
SRIOV_NETWORK = "sriov-net"  # the NetworkAttachmentDefinition an SR-IOV VF attaches through (per site)
HUGEPAGE_MB = 1024
ORDINARY_MB = 256  # what a huge-pages replica's process gets besides its pages
PINNED = frozenset({"dpdk", "sriov"})  # features whose cores are dedicated: whole CPUs, Guaranteed QoS
EXTENDED = (GPU, SRIOV, HUGEPAGES)  # what a namespace's quota counts besides CPU, memory and pods


def pinned(features: list[str] | set[str]) -> bool:
    return bool(PINNED & set(features))


def hardware_errors(cpu: float, memory_mb: int, features: list[str]) -> list[tuple[str, str]]:
    """(field, message) for what the resources above cannot express exactly."""
    errors = []
    if pinned(features) and cpu != int(cpu):
        errors.append(("cpu", f"{sorted(PINNED & set(features))} pin whole CPUs (Guaranteed QoS): give a whole "
                              f"number of vCPU, not {cpu:g}"))
    if "hugepages" in features and memory_mb % HUGEPAGE_MB:
        errors.append(("memory_mb", f"with hugepages, memory_mb is taken as 1 GiB huge pages: give a multiple of "
                                    f"{HUGEPAGE_MB}, not {memory_mb}"))
    return errors


def pod_amounts(cpu: float, memory_mb: int, gpu: int, features: list[str]) -> dict[str, int]:
    """What one replica requests (= limits), as integers: CPU in millicores, memory in MiB, huge pages
    in GiB, devices in units. The quota of the namespace adds these up."""
    hugepages = "hugepages" in features
    return {
        "cpu": round(cpu * 1000),
        "memory": min(ORDINARY_MB, memory_mb) if hugepages else memory_mb,
        GPU: gpu,
        SRIOV: 1 if "sriov" in features else 0,
        HUGEPAGES: memory_mb // HUGEPAGE_MB if hugepages else 0,
    }


def as_quantities(amounts: dict[str, int]) -> dict[str, str]:
    out = {"cpu": f"{amounts['cpu']}m" if amounts["cpu"] % 1000 else str(amounts["cpu"] // 1000),
           "memory": f"{amounts['memory']}Mi"}
    out |= {k: str(amounts[k]) for k in (GPU, SRIOV) if amounts.get(k)}
    if amounts.get(HUGEPAGES):
        out[HUGEPAGES] = f"{amounts[HUGEPAGES]}Gi"
    return out


def pod_resources(cpu: float, memory_mb: int, gpu: int, features: list[str]) -> dict[str, str]:
    """The container's requests, equal to its limits (Guaranteed QoS: with whole CPUs, the kubelet's
    static CPU manager gives the container dedicated cores)."""
    return as_quantities(pod_amounts(cpu, memory_mb, gpu, features))


def pod_annotations(features: list[str], network: str = SRIOV_NETWORK) -> dict[str, str]:
    """The Multus annotation attaching the SR-IOV VF the pod requests ("namespace/name" or "name")."""
    if "sriov" not in features:
        return {}
    namespace, _, name = network.rpartition("/")
    return {NETWORKS: json.dumps([{"name": name, **({"namespace": namespace} if namespace else {})}])}


def node_capacity(host: Host) -> dict[str, str]:
    """The extended resources a node of this host advertises (what a device plugin would report)."""
    capacity: dict[str, str] = {}
    if host.gpu:
        capacity[GPU] = str(host.gpu)
    if "sriov" in host.features:
        capacity[SRIOV] = str(math.floor(host.cpu))
    if "hugepages" in host.features:
        capacity[HUGEPAGES] = f"{host.memory_mb // HUGEPAGE_MB}Gi"
    return capacity
