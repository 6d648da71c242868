"""Backends chosen per site in the topology, and credentials by reference (no servers needed)."""

import pytest

from legato.adapters.errors import InvalidRequest
from legato.adapters.registry import build_adapters
from legato.adapters.secrets import read_user_password
from legato.config import Settings
from legato.topology_loader import TopologyError, parse_topology

SITE = {"id": "edge-a", "tier": "edge", "provider": "p", "region": "r", "country": "FR", "lat": 45, "lon": 5,
        "cost_per_vcpu_hour": 0.1, "hosts": [{"id": "h1", "cpu": 8, "memory_mb": 8192}]}  # fmt: skip
REDFISH = {"endpoints": ["https://bmc.example"], "credentials": "env:BMC_CREDS"}


def parse(**backend):
    return parse_topology({"sites": [{**SITE, "backend": backend}]}, "t.yaml")


def test_a_site_names_its_backends_and_defaults_to_the_simulator():
    site = parse(pim="redfish", mcm="kwok", wdm="kubernetes", redfish=REDFISH).sites["edge-a"]
    assert (site.backend.pim, site.backend.mcm, site.backend.wdm) == ("redfish", "kwok", "kubernetes")
    assert site.backend.redfish.boot == "pxe"
    plain = parse_topology({"sites": [SITE]}).sites["edge-a"]
    assert (plain.backend.pim, plain.backend.mcm, plain.backend.wdm) == ("sim", "sim", "sim")


@pytest.mark.parametrize("backend, message", [
    ({"pim": "redfish"}, "pim 'redfish' needs a 'redfish' section"),
    ({"mcm": "kwok"}, "wdm 'kubernetes' goes with mcm 'kwok', 'kubeconfig' or 'clusterapi'"),
    ({"mcm": "kubeconfig", "wdm": "kubernetes"}, "mcm 'kubeconfig' needs a 'kubeconfig' section"),
    ({"mcm": "clusterapi", "wdm": "kubernetes"}, "mcm 'clusterapi' needs a 'clusterapi' section"),
    ({"pim": "redfish", "redfish": {**REDFISH, "boot": "virtual-media"}}, "image_url is required"),
    ({"pim": "ironic"}, "backend.pim"),
    ({"pim": "redfish", "redfish": {**REDFISH, "password": "x"}}, "backend.redfish.password: unknown key"),
])  # fmt: skip
def test_bad_backend_entries_are_reported_by_path(backend, message):
    with pytest.raises(TopologyError) as err:
        parse(**backend)
    assert "sites[0] (id 'edge-a').backend" in str(err.value) and message in str(err.value)


def test_credentials_come_from_a_file_or_the_environment_and_errors_never_show_them(tmp_path, monkeypatch):
    secret = tmp_path / "creds"
    secret.write_text("admin:hunter2\n")
    user, password = read_user_password(f"file:{secret}")
    assert (user, password.get_secret_value()) == ("admin", "hunter2") and "hunter2" not in repr(password)
    monkeypatch.setenv("BMC_CREDS", "root:calvin")
    assert read_user_password("env:BMC_CREDS")[0] == "root"
    monkeypatch.setenv("BMC_CREDS", "no-colon-secret")
    with pytest.raises(InvalidRequest) as err:
        read_user_password("env:BMC_CREDS")
    assert "no-colon-secret" not in str(err.value)
    with pytest.raises(InvalidRequest, match="expected 'file:/path' or 'env:NAME'"):
        read_user_password("vault:x")


def test_a_simulated_continuum_gets_the_sim_adapters_directly(tmp_path):
    from legato.adapters.pim.sim import SimPIM

    assert isinstance(build_adapters(Settings(data_dir=tmp_path)).pim, SimPIM)
