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


class SiteBackends(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pim: Literal["sim", "redfish"] = "sim"
    mcm: Literal["sim", "kwok", "kubeconfig"] = "sim"
    wdm: Literal["sim", "kubernetes"] = "sim"
    redfish: RedfishSite | None = None
    kubeconfig: KubeconfigSite | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SiteBackends:
        if self.pim == "redfish" and self.redfish is None:
            raise ValueError("pim 'redfish' needs a 'redfish' section (endpoints, credentials)")
        if self.mcm == "kubeconfig" and self.kubeconfig is None:
            raise ValueError("mcm 'kubeconfig' needs a 'kubeconfig' section (path, contexts)")
        if (self.wdm == "kubernetes") != (self.mcm in ("kwok", "kubeconfig")):
            raise ValueError("wdm 'kubernetes' goes with mcm 'kwok' or 'kubeconfig' (and only with them)")
        return self
