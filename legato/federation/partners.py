"""The federation file (`LEGATO_FEDERATION_FILE`): who we are, our signing key, and our partners
with their public keys. Keys come from PEM files or environment variables; they are held as key
objects only, never printed, logged or returned (the `Partner` model has no key in it)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from legato.model.federation import Partner


class FederationConfigError(ValueError):
    """A federation file a human must fix; the message names the entry, never a key's content."""


@dataclass(repr=False)
class Federation:
    self_id: str
    signing_key: Ed25519PrivateKey
    partners: dict[str, Partner]
    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    def __repr__(self) -> str:  # keys stay out of every repr and log line
        return f"Federation(self_id={self.self_id!r}, partners={sorted(self.partners)})"

    def partner(self, partner_id: str) -> Partner | None:
        return self.partners.get(partner_id)

    def serving_areas(self) -> set[str]:
        return {a for p in self.partners.values() for a in p.areas}


def _pem(entry: dict, kind: str, where: str, base: Path) -> bytes:
    """PEM bytes from `<kind>_file` (relative to the federation file) or `<kind>_env`."""
    if entry.get(f"{kind}_file"):
        path = base / str(entry[f"{kind}_file"])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise FederationConfigError(f"{where}.{kind}_file: cannot read {path}: {exc.strerror}") from None
    if entry.get(f"{kind}_env"):
        name = str(entry[f"{kind}_env"])
        value = os.environ.get(name)
        if not value:
            raise FederationConfigError(f"{where}.{kind}_env: environment variable {name} is not set")
        return value.encode()
    raise FederationConfigError(f"{where}: give {kind}_file or {kind}_env")


def _private_key(data: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise FederationConfigError(f"{where}: not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise FederationConfigError(f"{where}: not an Ed25519 key")
    return key


def _public_key(data: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise FederationConfigError(f"{where}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise FederationConfigError(f"{where}: not an Ed25519 key")
    return key


def load_federation(path: Path | None) -> Federation | None:
    """None when no file is configured: this Legato then neither sends nor accepts federation."""
    if path is None:
        return None
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FederationConfigError(f"{path}: cannot read: {exc}") from None
    base = Path(path).parent
    me = data.get("self") or {}
    if not me.get("id"):
        raise FederationConfigError(f"{path}: self.id: missing")
    signing_key = _private_key(_pem(me, "private_key", "self", base), "self.private_key")
    partners: dict[str, Partner] = {}
    keys: dict[str, Ed25519PublicKey] = {}
    for i, entry in enumerate(data.get("partners") or []):
        where = f"partners[{i}]"
        public = {k: v for k, v in entry.items() if not k.startswith("public_key_")}
        try:
            partner = Partner.model_validate(public)
        except ValidationError as exc:
            problems = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
            raise FederationConfigError(f"{path}: {where}: {problems}") from None
        if partner.id in partners or partner.id == me["id"]:
            raise FederationConfigError(f"{path}: {where}.id: '{partner.id}' is used twice")
        partners[partner.id] = partner
        keys[partner.id] = _public_key(_pem(entry, "public_key", where, base), f"{where}.public_key")
    return Federation(self_id=str(me["id"]), signing_key=signing_key, partners=partners, keys=keys)


def public_pem(key: Ed25519PrivateKey) -> bytes:
    """The public half to hand to a partner."""
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
