"""Federation without servers: signatures (forged, altered, expired, replayed, unknown), the
partners file (keys never shown), and the local-or-partner decision."""

import time

import pytest

from legato.federation.decide import decide, remote_spec
from legato.federation.partners import FederationConfigError, load_federation
from legato.federation.signing import (
    SignatureRejected,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from legato.model import ServiceSpec
from legato.topology_loader import load_topology
from tests.federation import TOPOLOGIES, write_keys, write_partners_file

BODY = b'{"request_id":"r1"}'
PATH = "/v1/federation/requests"


@pytest.fixture
def feds(tmp_path):
    """Two operators, A and B, each configured with the other; plus an outsider C nobody knows."""
    for name in ("a", "b", "c"):
        write_keys(tmp_path, name)
    a = write_partners_file(tmp_path / "a.yaml", "a", [
        {"id": "b", "base_url": "http://127.0.0.1:1", "public_key_file": "b.pub.pem", "areas": ["madrid"]}])
    b = write_partners_file(tmp_path / "b.yaml", "b", [
        {"id": "a", "base_url": "http://127.0.0.1:2", "public_key_file": "a.pub.pem"}])
    c = write_partners_file(tmp_path / "c.yaml", "c", [
        {"id": "b", "base_url": "http://127.0.0.1:1", "public_key_file": "b.pub.pem"}])
    return load_federation(a), load_federation(b), load_federation(c)


def nonces():
    seen: set = set()

    def remember(issuer, nonce, _expires):
        if (issuer, nonce) in seen:
            return False
        seen.add((issuer, nonce))
        return True

    return remember


def test_a_signed_request_verifies_once_and_its_replay_is_refused(feds):
    a, b, _ = feds
    token, nonce = sign_request(a, "b", "POST", PATH, BODY)
    remember = nonces()
    verified = verify_request(b, token, "POST", PATH, BODY, remember)
    assert (verified.partner, verified.nonce) == ("a", nonce)
    with pytest.raises(SignatureRejected, match="replayed"):
        verify_request(b, token, "POST", PATH, BODY, remember)


@pytest.mark.parametrize("case", ["altered body", "other route", "expired", "forged", "unknown partner",
                                  "not for us", "garbage"])
def test_bad_requests_are_refused_before_their_nonce_is_stored(feds, tmp_path, case):
    a, b, c = feds
    token, _ = sign_request(a, "b", "POST", PATH, BODY)
    method, path, body, status = "POST", PATH, BODY, 401
    if case == "altered body":
        body = b'{"request_id":"r2"}'
    elif case == "other route":
        path = PATH + "/r1"
    elif case == "expired":
        token, _ = sign_request(a, "b", "POST", PATH, BODY, now=time.time() - 600)
    elif case == "forged":  # claims to be A, signed with C's key
        c.self_id = "a"
        token, _ = sign_request(c, "b", "POST", PATH, BODY)
    elif case == "unknown partner":
        token, _ = sign_request(c, "b", "POST", PATH, BODY)
    elif case == "not for us":
        token, _ = sign_request(a, "z", "POST", PATH, BODY)
        status = 403
    elif case == "garbage":
        token = "not.a.jws"
    stored = []
    with pytest.raises(SignatureRejected) as refused:
        verify_request(b, token, method, path, body, lambda *args: stored.append(args) or True)
    assert refused.value.status == status and stored == []


def test_an_answer_is_bound_to_its_request_and_its_body(feds):
    a, b, _ = feds
    answer = sign_response(b, "a", "nonce-1", 202, b"{}")
    verify_response(a, "b", answer, "nonce-1", 202, b"{}")
    for irt, status, body in (("nonce-2", 202, b"{}"), ("nonce-1", 200, b"{}"), ("nonce-1", 202, b"[]")):
        with pytest.raises(SignatureRejected):
            verify_response(a, "b", answer, irt, status, body)
    with pytest.raises(SignatureRejected, match="unsigned"):
        verify_response(a, "b", None, "nonce-1", 202, b"{}")


def test_partners_file_keys_from_env_never_shown(tmp_path, monkeypatch):
    key_pem = write_keys(tmp_path, "me") and (tmp_path / "me.pem").read_text()
    write_keys(tmp_path, "p")
    monkeypatch.setenv("MY_FED_KEY", key_pem)
    path = tmp_path / "fed.yaml"
    path.write_text("""
self: {id: me, private_key_env: MY_FED_KEY}
partners:
  - {id: p, name: P, base_url: "https://p.example", areas: [madrid], public_key_file: p.pub.pem,
     quota: {max_services: 2, max_vcpu: 8}}
""")
    fed = load_federation(path)
    assert fed.partner("p").quota.max_vcpu == 8 and fed.serving_areas() == {"madrid"}
    shown = repr(fed) + fed.partner("p").model_dump_json()
    assert "PRIVATE" not in shown and "PUBLIC" not in shown and "key" not in fed.partner("p").model_dump()
    monkeypatch.delenv("MY_FED_KEY")
    with pytest.raises(FederationConfigError, match="self.private_key_env: environment variable MY_FED_KEY"):
        load_federation(path)
    path.write_text(path.read_text().replace("MY_FED_KEY", "X").replace("private_key_env: X",
                                                                        "private_key_file: p.pub.pem"))
    with pytest.raises(FederationConfigError, match="not a PEM private key") as err:
        load_federation(path)
    assert "BEGIN" not in str(err.value)


ROAMING = {
    "name": "roaming-app",
    "components": [
        {"name": "web", "image": "nginx", "cpu": 1},
        {"name": "edge-app", "image": "edge", "cpu": 2, "replicas": 2},
        {"name": "cache", "image": "redis", "colocate_with": ["edge-app"]},
    ],
    "links": [{"from": "web", "to": "edge-app"}, {"from": "edge-app", "to": "cache"}],
    "user_areas": [{"area": "paris-center", "component": "web"}, {"area": "madrid", "component": "edge-app"}],
}


def test_roaming_users_send_their_components_to_the_partner_serving_them(feds):
    a, _, _ = feds
    topology = load_topology(TOPOLOGIES / "default.yaml")
    decision = decide(ServiceSpec.model_validate(ROAMING), topology, {}, list(a.partners.values()))
    assert decision.feasible, decision.infeasible_reason
    assert [p.component for p in decision.components] == ["web"]
    assert {(f.component, f.partner) for f in decision.federated} == {("edge-app", "b"), ("cache", "b")}
    assert all("madrid" in f.reason for f in decision.federated)
    sent = remote_spec(ServiceSpec.model_validate(ROAMING), {"edge-app", "cache"}, a.partner("b"))
    assert [c.name for c in sent.components] == ["edge-app", "cache"]
    assert [(lk.source, lk.target) for lk in sent.links] == [("edge-app", "cache")]
    assert [u.area for u in sent.user_areas] == ["madrid"] and sent.id is None


def test_infeasible_here_goes_to_a_partner_that_accepts_overflow(feds):
    a, _, _ = feds
    topology = load_topology(TOPOLOGIES / "default.yaml")
    spec = ServiceSpec.model_validate({"name": "overflow", "components": [
        {"name": "web", "image": "nginx"},
        {"name": "gpu-job", "image": "train", "gpu": 1, "features": ["gpu-a100"], "placement": {"tiers": ["far-edge"]}},
    ]})
    partners = list(a.partners.values())
    assert not decide(spec, topology, {}, partners).feasible  # nobody takes overflow
    partners = [p.model_copy(update={"overflow": True}) for p in partners]
    decision = decide(spec, topology, {}, partners)
    assert decision.feasible and [p.component for p in decision.components] == ["web"]
    [sent] = decision.federated
    assert sent.component == "gpu-job" and "no feasible local placement" in sent.reason and "overflow" in sent.reason


def test_a_country_only_a_partner_has(feds):
    a, _, _ = feds
    partners = [p.model_copy(update={"countries": ["ES"]}) for p in a.partners.values()]
    spec = ServiceSpec.model_validate({"name": "sovereign", "components": [
        {"name": "es-data", "image": "db", "placement": {"countries": ["ES"]}}]})
    decision = decide(spec, load_topology(TOPOLOGIES / "default.yaml"), {}, partners)
    assert decision.feasible and decision.components == [] and decision.federated[0].partner == "b"
