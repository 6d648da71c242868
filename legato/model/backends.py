"""Which backend serves each manager at a site, and how to reach it.

Chosen per site in the topology, so one continuum can mix simulated and real infrastructure.
Credentials are never written here: only a reference to the file or environment variable that
holds them (see `legato.adapters.secrets`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RedfishSite(BaseModel):
    """The site's BMCs. A topology host is the Redfish System whose Id, Name or UUID equals the
    host id, or the one `systems` maps it to."""

    model_config = ConfigDict(extra="forbid")

    endpoints: list[str] = Field(min_length=1, description="BMC base URLs, e.g. https://bmc-1.example")
    credentials: str = Field(description="'file:/path' or 'env:NAME' holding 'username:password'")
    boot: Literal["pxe", "virtual-media"] = "pxe"
    image_url: str | None = Field(default=None, description="OS image for virtual-media boot")
    verify_tls: bool = True
    power_timeout_seconds: float = Field(default=120.0, gt=0)
    systems: dict[str, str] = Field(default_factory=dict, description="host id -> Redfish System Id/Name/UUID")

    @model_validator(mode="after")
    def _image_for_virtual_media(self) -> RedfishSite:
        if self.boot == "virtual-media" and not self.image_url:
            raise ValueError("image_url is required when boot is virtual-media")
        return self


class KubeconfigSite(BaseModel):
    """Existing clusters of the site, reached through contexts of one kubeconfig file."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="kubeconfig file (~ expanded)")
    contexts: dict[str, str] = Field(
        default_factory=dict, description="topology cluster id -> context (default: the cluster id)"
    )


class InfrastructureProvider(BaseModel):
    """The Cluster API infrastructure provider of a management cluster, and where its hosts are.

    Legato hands the hosts the PIM allocated to the provider Metal3's way: each host is an object
    of `host_resource` named like the host, which Legato labels `legato.io/cluster=<cluster>` while
    the cluster holds it; the workers' machine template selects hosts by that label
    (`spec.template.spec.<host_selector_field>.matchLabels`), so the provider builds each worker on
    one of them and no other."""

    model_config = ConfigDict(extra="forbid")

    api_version: str = Field(default="infrastructure.cluster.x-k8s.io/v1beta1",
                             description="group/version of the provider's kinds (default: Metal3's)")
    cluster_kind: str = Field(default="Metal3Cluster", description="its InfraCluster kind")
    machine_template_kind: str = Field(default="Metal3MachineTemplate", description="its InfraMachineTemplate kind")
    cluster_spec: dict = Field(default_factory=dict, description="the InfraCluster's spec (Metal3: "
                               "controlPlaneEndpoint, the address the control plane answers at)")
    machine_spec: dict = Field(default_factory=dict, description="spec.template.spec of the workers' machine template "
                               "(Metal3: image, dataTemplate)")
    control_plane_machine_spec: dict = Field(default_factory=dict, description="spec.template.spec of the control "
                                             "plane's machine template: its hosts are the operator's (a selector of "
                                             "its own pool), not the PIM's")
    host_resource: str = Field(default="baremetalhosts.v1alpha1.metal3.io",
                               description="plural.version.group of the host objects the workers are built on")
    host_selector_field: str = Field(default="hostSelector", description="the machine spec's host selector field")


class ClusterAPISite(BaseModel):
    """A management cluster Legato drives through Cluster API for this site's clusters."""

    model_config = ConfigDict(extra="forbid")

    kubeconfig: str = Field(description="kubeconfig file of the management cluster (~ expanded)")
    context: str | None = Field(default=None, description="its context (default: the current one)")
    namespace: str = Field(default="legato", description="where Legato writes this site's Cluster API objects "
                           "and finds its hosts")
    kubernetes_version: str = Field(default="v1.34.4", description="the version new clusters start on")
    versions: list[str] = Field(default_factory=list, description="the releases the site's machine images "
                                "offer, for upgrades (default: the version new clusters start on)")
    control_plane_replicas: int = Field(default=1, ge=1, description="KubeadmControlPlane replicas (1, 3 or 5)")
    kubeadm: dict = Field(default_factory=dict, description="fields merged into the KubeadmControlPlane's "
                          "kubeadmConfigSpec (e.g. clusterConfiguration.etcd.external)")
    infrastructure: InfrastructureProvider = Field(default_factory=InfrastructureProvider)
    ready_timeout_seconds: float = Field(default=90, gt=0, description="how long one call waits for CAPI before "
                                         "it reports a transient fault (the activity retries, finding its objects)")


class Publication(BaseModel):
    """How the Kubernetes WDM publishes a component's ports to the users of a cluster."""

    model_config = ConfigDict(extra="forbid")

    via: Literal["node-port", "load-balancer", "gateway"] = Field(
        default="node-port", description="node-port: a NodePort Service, reached at a node's address; "
        "load-balancer: a LoadBalancer Service, at the address the cluster's load-balancer controller assigns; "
        "gateway: an HTTPRoute per port on the site's Gateway (HTTP ports only)")
    address: str | None = Field(default=None, description="node-port: the address users reach the nodes at "
                                "(a VIP, a DNS name); default a node's ExternalIP, else its InternalIP")
    gateway: str | None = Field(default=None, description="gateway: '<namespace>/<name>' of the Gateway")
    hostname: str | None = Field(default=None, description="gateway: the DNS suffix of the routes' hostnames, "
                                 "'<component>-<port>.<service>.<hostname>'")
    gateway_port: int = Field(default=80, ge=1, le=65535, description="gateway: the listener users reach")

    @model_validator(mode="after")
    def _gateway_named(self) -> Publication:
        if self.via == "gateway" and not (self.gateway and "/" in self.gateway and self.hostname):
            raise ValueError("via 'gateway' needs gateway: '<namespace>/<name>' and hostname")
        return self


class SitePublication(Publication):
    """The site's choice, and the choice of any of its clusters that differs (by cluster id)."""

    clusters: dict[str, Publication] = Field(default_factory=dict)


class PrometheusLabels(BaseModel):
    """The label names the site's series carry (defaults: kube-state-metrics', cAdvisor's, and the
    `http_requests_total` convention; renamed here when the site's relabelling differs)."""

    model_config = ConfigDict(extra="forbid")

    workload: str = Field(default="workload", description="request series: the workload (Deployment) name")
    area: str = Field(default="area", description="request series: the user area the request came from")
    code: str = Field(default="code", description="request series: the HTTP status code")
    namespace: str = Field(default="namespace", description="pod and container series: the pod's namespace")
    pod: str = Field(default="pod", description="pod and container series: the pod's name")
    node: str = Field(default="node", description="kube_node_status_condition: the node's name (the host id)")
    cluster: str = Field(default="cluster", description="every series: the topology cluster id (a target label "
                         "the scrape configuration sets)")
    job: str = Field(default="job", description="`up`: the scrape job")


class PrometheusSite(BaseModel):
    """The Prometheus server that scrapes the site's clusters: telemetry `prometheus` reads it over
    PromQL (`/api/v1/query`). What it reads is in README.md, *Telemetry*."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="base URL, e.g. https://prometheus.edge-1.example")
    token: str | None = Field(default=None, description="bearer token by reference, 'file:/path' or 'env:NAME'")
    verify_tls: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0)
    apiserver_job: str = Field(default="apiserver", description="the job scraping each cluster's API server: "
                               "its `up` 0 means the API does not answer")
    labels: PrometheusLabels = Field(default_factory=PrometheusLabels)


class SiteBackends(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pim: Literal["sim", "redfish"] = "sim"
    mcm: Literal["sim", "kwok", "kubeconfig", "clusterapi"] = "sim"
    wdm: Literal["sim", "kubernetes"] = "sim"
    telemetry: Literal["sim", "prometheus"] = Field(default="sim", description="where the autopilot reads KPIs and "
                                                    "health: the simulator, or the site's Prometheus over PromQL")
    redfish: RedfishSite | None = None
    kubeconfig: KubeconfigSite | None = None
    clusterapi: ClusterAPISite | None = None
    prometheus: PrometheusSite | None = None
    publish: SitePublication | None = Field(default=None, description="wdm kubernetes: how components' ports are "
                                            "published (default node-port)")

    @model_validator(mode="after")
    def _consistent(self) -> SiteBackends:
        if self.pim == "redfish" and self.redfish is None:
            raise ValueError("pim 'redfish' needs a 'redfish' section (endpoints, credentials)")
        if self.mcm == "kubeconfig" and self.kubeconfig is None:
            raise ValueError("mcm 'kubeconfig' needs a 'kubeconfig' section (path, contexts)")
        if self.mcm == "clusterapi" and self.clusterapi is None:
            raise ValueError("mcm 'clusterapi' needs a 'clusterapi' section (kubeconfig, infrastructure)")
        if self.telemetry == "prometheus" and self.prometheus is None:
            raise ValueError("telemetry 'prometheus' needs a 'prometheus' section (url)")
        if (self.wdm == "kubernetes") != (self.mcm in ("kwok", "kubeconfig", "clusterapi")):
            raise ValueError("wdm 'kubernetes' goes with mcm 'kwok', 'kubeconfig' or 'clusterapi' (and only with them)")
        return self
