"""Bearer tokens mapped to tenants. Tokens are kept only as SHA-256 digests in memory and compared
in constant time; they never appear in logs or errors.

The tokens file is read again when it changes: each lookup stats it (one system call) and compares
its modification time, size and inode with the last read, so a tenant added with
`legato tokens add`, or a line removed by hand, takes effect at the next request without a restart."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace

from legato.config import Settings

ADMIN_TENANT = "operator"
# A tenant becomes a Kubernetes label value (legato.io/tenant) on real backends: keep it one.
TENANT_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?")
log = logging.getLogger("legato.api.auth")


@dataclass(frozen=True)
class Caller:
    tenant: str
    admin: bool = False

    def sees(self, tenant: str) -> bool:
        return self.admin or tenant == self.tenant


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _read_tokens_file(path: Path) -> list[tuple[bytes, Caller]]:
    data = yaml.safe_load(path.read_text()) or {}
    return [(_digest(str(item["token"])), Caller(str(item["tenant"]), bool(item.get("admin", False))))
            for item in data.get("tokens", [])]


class TokenStore:
    def __init__(self, entries: list[tuple[str, Caller]], path: Path | None = None):
        self._fixed = [(_digest(token), caller) for token, caller in entries]
        self._path = path
        self._stamp: tuple[int, int, int] | None = None
        self._from_file: list[tuple[bytes, Caller]] = []
        self._refresh()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenStore:
        """LEGATO_API_TOKENS (fixed for the process's life) and the tokens file (followed)."""
        entries: list[tuple[str, Caller]] = []
        if settings.api_tokens is not None:
            for pair in settings.api_tokens.get_secret_value().split(","):
                token, _, tenant = pair.strip().partition("=")
                if token and tenant:
                    entries.append((token, Caller(tenant, admin=tenant == ADMIN_TENANT)))
        return cls(entries, settings.tokens_path)

    def _refresh(self) -> None:
        """Read the tokens file again if it changed since the last read (or is gone: its tokens
        stop working). A file that does not parse keeps the tokens read before; the warning names
        the file and the error's kind only, since YAML errors quote the offending line."""
        if self._path is None:
            return
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            self._stamp, self._from_file = None, []
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        try:
            entries = _read_tokens_file(self._path)
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as err:
            log.warning("tokens file %s unreadable (%s); keeping the tokens read before", self._path,
                        type(err).__name__)
        else:
            self._from_file = entries
            if self._stamp is not None:
                log.info("tokens file %s read again: %d token(s)", self._path, len(entries))
        self._stamp = stamp

    def caller(self, token: str) -> Caller | None:
        self._refresh()
        digest = _digest(token)
        found = None
        for known, caller in self._fixed + self._from_file:
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


def add_token(path: Path, tenant: str, admin: bool = False) -> str:
    """Append a new random token for `tenant` to the tokens file and return it (the only time it
    is shown). The file is replaced whole, mode 0600, so a running API never reads half of it; the
    API notices the change at its next request. A tenant may hold several tokens (rotation)."""
    if not TENANT_NAME.fullmatch(tenant):
        raise ValueError(f"tenant {tenant!r}: lower-case letters, digits, '.', '_' or '-', "
                         "starting and ending with a letter or digit, at most 63 characters")
    data = (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}
    tokens = data.setdefault("tokens", [])
    token = secrets.token_urlsafe(24)
    tokens.append({"tenant": tenant, "token": token, **({"admin": True} if admin else {})})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(data, out, sort_keys=False)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return token


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


async def operator_caller(caller: Caller = Depends(current_caller)) -> Caller:
    """Routes that show the whole installation (/metrics, /readyz): the operator's token only."""
    if not caller.admin:
        raise HTTPException(403, "operator only: use the operator's token")
    return caller
