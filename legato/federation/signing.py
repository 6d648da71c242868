"""Every federation call is a compact JWS (EdDSA, Ed25519) in the `Authorization` header, whose
claims bind it to one partner (iss), one receiver (aud), one method and path (htm, htu), the exact
body (bsh: SHA-256), a short lifetime (iat, exp) and a nonce the receiver keeps until expiry, so a
forged, altered, expired or replayed request is refused before anything starts. Answers are
signed the same way and bound to the request's nonce (irt), so a caller trusts only what the
partner said to this very request."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from legato.federation.partners import Federation

SCHEME = "Legato-JWS"  # Authorization: Legato-JWS <token>
RESPONSE_HEADER = "X-Legato-Signature"
TTL_SECONDS = 60.0
CLOCK_SKEW_SECONDS = 30.0


class SignatureRejected(Exception):
    """Why a call is refused (the status to answer: 401 unauthenticated, 403 not for us)."""

    def __init__(self, reason: str, status: int = 401):
        super().__init__(reason)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class Verified:
    partner: str
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def body_hash(body: bytes) -> str:
    return _b64(hashlib.sha256(body).digest())


def encode(claims: dict, key: Ed25519PrivateKey, kid: str) -> str:
    header = _b64(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{_b64(signature)}"


def _decode(token: str) -> tuple[dict, dict, bytes, bytes]:
    try:
        header_b64, payload_b64, sig_b64 = token.split(".")
        header, claims = json.loads(_unb64(header_b64)), json.loads(_unb64(payload_b64))
        signature = _unb64(sig_b64)
    except (ValueError, TypeError):
        raise SignatureRejected("malformed signature") from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "EdDSA":
        raise SignatureRejected("malformed signature (EdDSA JWS expected)")
    return header, claims, f"{header_b64}.{payload_b64}".encode(), signature


def _check(key: Ed25519PublicKey, signed: bytes, signature: bytes) -> None:
    try:
        key.verify(signature, signed)
    except InvalidSignature:
        raise SignatureRejected("bad signature") from None


def _check_time(claims: dict, now: float) -> None:
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise SignatureRejected("signature without iat/exp")
    if exp < now or iat > now + CLOCK_SKEW_SECONDS or exp - iat > TTL_SECONDS + CLOCK_SKEW_SECONDS:
        raise SignatureRejected("expired or not yet valid signature")


def sign_request(fed: Federation, audience: str, method: str, path: str, body: bytes,
                 now: float | None = None, ttl: float = TTL_SECONDS) -> tuple[str, str]:
    """The token for one call, and its nonce (to match the answer's `irt`)."""
    now = time.time() if now is None else now
    nonce = secrets.token_urlsafe(18)
    claims = {"iss": fed.self_id, "aud": audience, "iat": int(now), "exp": int(now + ttl), "nonce": nonce,
              "htm": method.upper(), "htu": path, "bsh": body_hash(body)}
    return encode(claims, fed.signing_key, fed.self_id), nonce


def verify_request(fed: Federation, token: str, method: str, path: str, body: bytes,
                   remember_nonce: Callable[[str, str, float], bool], now: float | None = None) -> Verified:
    """Checks in an order that lets no unauthenticated caller write anything: the nonce is stored
    (and a replay detected) only once the signature and every claim are valid."""
    now = time.time() if now is None else now
    _, claims, signed, signature = _decode(token)
    issuer = claims.get("iss")
    key = fed.keys.get(issuer) if isinstance(issuer, str) else None
    if key is None:
        raise SignatureRejected("unknown partner")
    _check(key, signed, signature)
    if claims.get("aud") != fed.self_id:
        raise SignatureRejected("signed for another operator", 403)
    _check_time(claims, now)
    if claims.get("htm") != method.upper() or claims.get("htu") != path:
        raise SignatureRejected("signed for another route")
    if claims.get("bsh") != body_hash(body):
        raise SignatureRejected("body does not match its signature")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise SignatureRejected("signature without a valid nonce")
    if not remember_nonce(issuer, nonce, float(claims["exp"]) + CLOCK_SKEW_SECONDS):
        raise SignatureRejected("replayed request")
    return Verified(partner=issuer, nonce=nonce)


def sign_response(fed: Federation, audience: str, in_reply_to: str, status: int, body: bytes,
                  now: float | None = None) -> str:
    now = time.time() if now is None else now
    claims = {"iss": fed.self_id, "aud": audience, "iat": int(now), "exp": int(now + TTL_SECONDS),
              "irt": in_reply_to, "sts": status, "bsh": body_hash(body)}
    return encode(claims, fed.signing_key, fed.self_id)


def verify_response(fed: Federation, partner_id: str, token: str | None, in_reply_to: str, status: int,
                    body: bytes, now: float | None = None) -> None:
    if not token:
        raise SignatureRejected("unsigned answer")
    _, claims, signed, signature = _decode(token)
    if claims.get("iss") != partner_id or partner_id not in fed.keys:
        raise SignatureRejected("answer signed by someone else")
    _check(fed.keys[partner_id], signed, signature)
    _check_time(claims, time.time() if now is None else now)
    if (claims.get("aud"), claims.get("irt"), claims.get("sts")) != (fed.self_id, in_reply_to, status):
        raise SignatureRejected("answer to another request")
    if claims.get("bsh") != body_hash(body):
        raise SignatureRejected("answer body does not match its signature")
