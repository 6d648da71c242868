"""Credentials by reference: the topology names where a secret lives, never the secret itself."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from legato.adapters.errors import InvalidRequest


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
