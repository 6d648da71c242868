"""Bearer tokens mapped to tenants. Tokens are kept only as SHA-256 digests in memory and compared
in constant time; they never appear in logs or errors."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace

from legato.config import Settings

ADMIN_TENANT = "operator"


@dataclass(frozen=True)
class Caller:
    tenant: str
    admin: bool = False

    def sees(self, tenant: str) -> bool:
        return self.admin or tenant == self.tenant


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenStore:
    def __init__(self, entries: list[tuple[str, Caller]]):
        self._entries = [(_digest(token), caller) for token, caller in entries]

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenStore:
        entries: list[tuple[str, Caller]] = []
        if settings.api_tokens is not None:
            for pair in settings.api_tokens.get_secret_value().split(","):
                token, _, tenant = pair.strip().partition("=")
                if token and tenant:
                    entries.append((token, Caller(tenant, admin=tenant == ADMIN_TENANT)))
        if settings.tokens_path.exists():
            data = yaml.safe_load(settings.tokens_path.read_text()) or {}
            for item in data.get("tokens", []):
                entries.append((str(item["token"]), Caller(str(item["tenant"]), bool(item.get("admin", False)))))
        return cls(entries)

    def caller(self, token: str) -> Caller | None:
        digest = _digest(token)
        found = None
        for known, caller in self._entries:
            if hmac.compare_digest(known, digest):
                found = caller
        return found


def ensure_tokens_file(path: Path) -> dict[str, str]:
    """The embedded default: a `demo` tenant and an `operator` admin, with random tokens, created
    once (mode 0600). Returns tenant -> token so `legato up` can tell the user where they are."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"tokens": [
            {"tenant": "demo", "token": secrets.token_urlsafe(24)},
            {"tenant": ADMIN_TENANT, "token": secrets.token_urlsafe(24), "admin": True},
        ]}
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(data))
    data = yaml.safe_load(path.read_text()) or {}
    return {str(item["tenant"]): str(item["token"]) for item in data.get("tokens", [])}


_bearer = HTTPBearer(auto_error=False)


async def current_caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    caller = request.app.state.tokens.caller(credentials.credentials)
    if caller is None:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    trace.get_current_span().set_attribute("legato.tenant", caller.tenant)
    return caller
