"""Credentials by reference: the topology names where a secret lives, never the secret itself; and a
component's `secretRef`s, read from Vault only here, by the WDM backend (never by a workflow)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from legato.adapters.errors import InvalidRequest, PermanentFault, TransientFault
from legato.model.service import SecretRef


def read_secret(ref: str) -> SecretStr:
    """'file:/path' (first line, ~ expanded) or 'env:NAME'. The error names the reference, not the value."""
    kind, _, where = ref.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise InvalidRequest(f"credentials {ref!r}: environment variable {where} is not set")
        return SecretStr(value.strip())
    if kind == "file":
        try:
            return SecretStr(Path(where).expanduser().read_text().splitlines()[0].strip())
        except (OSError, IndexError) as err:
            raise InvalidRequest(f"credentials {ref!r}: cannot read the file ({type(err).__name__})") from None
    raise InvalidRequest(f"credentials {ref!r}: expected 'file:/path' or 'env:NAME'")


def read_user_password(ref: str) -> tuple[str, SecretStr]:
    """A 'username:password' secret, split."""
    user, sep, password = read_secret(ref).get_secret_value().partition(":")
    if not sep or not user:
        raise InvalidRequest(f"credentials {ref!r}: expected 'username:password'")
    return user, SecretStr(password)


# ---- secretRef: a component's secret environment, resolved only by the WDM backend

class VaultSettings(BaseSettings):
    """`LEGATO_VAULT_ADDR` (none: Vault references are refused), `LEGATO_VAULT_TOKEN` as a reference
    ('env:NAME' or 'file:/path', like every credential here), the KV v2 mount (`secret`) and the
    prefix under which each tenant's paths live: `<mount>/data/<prefix>/<tenant>/<path>`."""

    model_config = SettingsConfigDict(env_prefix="LEGATO_VAULT_", extra="ignore")

    addr: str | None = None
    token: str | None = None
    mount: str = "secret"
    prefix: str = "legato"
    verify_tls: bool = True
    timeout_seconds: float = 10.0


def vault_path(tenant: str, path: str, settings: VaultSettings) -> str:
    return "/".join(p for p in (settings.prefix.strip("/"), tenant, path.strip("/")) if p)


def read_vault(tenant: str, ref: SecretRef, settings: VaultSettings | None = None) -> SecretStr:
    """One key of a KV v2 secret under the tenant's prefix. Errors name the reference, never a value;
    an unreachable Vault is transient (retried), a missing path or key and a refused token are not."""
    import hvac
    import requests
    from hvac import exceptions as hv

    settings = settings or VaultSettings()
    where = f"vault path {ref.vault!r} (key {ref.key!r})"
    if not settings.addr:
        raise InvalidRequest(f"{where}: no Vault is configured (LEGATO_VAULT_ADDR)")
    if not settings.token:
        raise InvalidRequest(f"{where}: no Vault token is configured (LEGATO_VAULT_TOKEN: 'env:NAME' or 'file:/path')")
    vault = hvac.Client(url=settings.addr, token=read_secret(settings.token).get_secret_value(),
                        verify=settings.verify_tls, timeout=settings.timeout_seconds)
    try:
        answer = vault.secrets.kv.v2.read_secret_version(path=vault_path(tenant, ref.vault or "", settings),
                                                          mount_point=settings.mount, raise_on_deleted_version=True)
    except hv.InvalidPath:
        raise InvalidRequest(f"{where}: no such secret in Vault") from None
    except hv.Forbidden:
        raise PermanentFault(f"{where}: Vault refuses the token configured for Legato") from None
    except (hv.VaultDown, hv.InternalServerError, hv.BadGateway, hv.RateLimitExceeded,
            requests.exceptions.RequestException):
        raise TransientFault(f"{where}: Vault at {settings.addr} does not answer") from None
    except hv.VaultError as err:
        raise InvalidRequest(f"{where}: Vault refuses ({type(err).__name__})") from None
    data = ((answer or {}).get("data") or {}).get("data") or {}
    if ref.key not in data:
        raise InvalidRequest(f"{where}: the secret has no such key")
    return SecretStr(str(data[ref.key]))
