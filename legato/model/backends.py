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


class SiteBackends(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pim: Literal["sim", "redfish"] = "sim"
    mcm: Literal["sim", "kwok", "kubeconfig"] = "sim"
    wdm: Literal["sim", "kubernetes"] = "sim"
    redfish: RedfishSite | None = None
    kubeconfig: KubeconfigSite | None = None
    publish: SitePublication | None = Field(default=None, description="wdm kubernetes: how components' ports are "
                                            "published (default node-port)")

    @model_validator(mode="after")
    def _consistent(self) -> SiteBackends:
        if self.pim == "redfish" and self.redfish is None:
            raise ValueError("pim 'redfish' needs a 'redfish' section (endpoints, credentials)")
        if self.mcm == "kubeconfig" and self.kubeconfig is None:
            raise ValueError("mcm 'kubeconfig' needs a 'kubeconfig' section (path, contexts)")
        if (self.wdm == "kubernetes") != (self.mcm in ("kwok", "kubeconfig")):
            raise ValueError("wdm 'kubernetes' goes with mcm 'kwok' or 'kubeconfig' (and only with them)")
        return self
