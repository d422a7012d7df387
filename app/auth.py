"""Who is asking: an admin password without OIDC, and helpers for Streamlit's OIDC login.

Design choices:
- Passwords are stored as ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``: stdlib only, memory-hard,
  and the parameters travel with the hash so they can be raised later without breaking old hashes.
  The default (n=2**15, r=8, p=3) is one of OWASP's equivalent scrypt settings; we take the 32 MiB
  one rather than n=2**17 (128 MiB) so a burst of login attempts cannot exhaust a small server's memory.
- ``verify_password`` never raises: a typo in the configured hash must mean "wrong password", not a
  traceback in the UI. Parameters beyond sane bounds count as malformed, so a bad hash cannot make
  one login take minutes or gigabytes.
- Secrets win over the environment, as everywhere in the UI: ``.streamlit/secrets.toml`` is the
  deliberate per-deployment file, an environment variable may be inherited by accident.
- This module does not import Streamlit: it takes plain mappings (``st.secrets``, ``st.user``,
  ``os.environ``), so it is testable without a running app.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from askdocs.types import Principal  # shared with the retriever's access filter

__all__ = [
    "Principal",
    "admin_password_hash",
    "hash_password",
    "oidc_configured",
    "oidc_providers",
    "principal_from_oidc",
    "verify_password",
]

ENV_ADMIN_HASH = "ASKDOCS_ADMIN_PASSWORD_HASH"
SECRETS_ADMIN_HASH = "admin_password_hash"

_N, _R, _P = 2**15, 8, 3
_SALT_BYTES, _KEY_BYTES = 16, 32
# Bounds for parameters read from a stored hash: 2**20 * 128 * 16 bytes is already 2 GiB.
_MAX_N, _MAX_R, _MAX_P = 2**20, 16, 16
_OIDC_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
# st.login refuses to start without these two, whichever provider is used.
_OIDC_SHARED_KEYS = ("redirect_uri", "cookie_secret")


# -- passwords ---------------------------------------------------------------------------------
def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL needs 128*r*(n+2) + 128*r*p bytes; hashlib's default cap (32 MiB) is just short of our default.
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=129 * r * (n + p) + 2**20, dklen=_KEY_BYTES
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the self-describing format above.

    Example:
        >>> verify_password("s3cret", hash_password("s3cret"))
        True
    """
    salt = os.urandom(_SALT_BYTES)
    key = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; False for a wrong password or a malformed hash."""
    try:
        scheme, n_text, r_text, p_text, salt_text, key_text = encoded.strip().split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(key_text, validate=True)
    except (AttributeError, ValueError, binascii.Error):
        return False
    # n must be a power of two above 1; the bounds keep a bad hash from hanging the login.
    sane = 1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P
    if scheme != "scrypt" or not sane or not salt or not expected:
        return False
    try:
        key = _scrypt(password, salt, n, r, p)
    except (ValueError, MemoryError):
        return False
    # Compare the full-length keys in constant time; a shorter stored key simply never matches.
    return len(expected) == len(key) and hmac.compare_digest(key, expected)


def admin_password_hash(secrets: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """The configured admin hash: ``admin_password_hash`` in secrets, else the environment, else None."""
    for value in (secrets.get(SECRETS_ADMIN_HASH), environ.get(ENV_ADMIN_HASH)):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


# -- OIDC (st.login) ---------------------------------------------------------------------------
def oidc_providers(secrets: Mapping[str, Any]) -> list[str]:
    """Provider names ``st.login`` can use; ``"default"`` for the flat ``[auth]`` form.

    Mirrors Streamlit's own checks: ``[auth]`` needs ``redirect_uri`` and ``cookie_secret``, and a
    provider (``[auth]`` itself or a ``[auth.NAME]`` table, NAME without "_") needs ``client_id``,
    ``client_secret`` and ``server_metadata_url``.
    """
    auth = secrets.get("auth")
    if not isinstance(auth, Mapping) or not all(auth.get(key) for key in _OIDC_SHARED_KEYS):
        return []
    found = ["default"] if all(auth.get(key) for key in _OIDC_PROVIDER_KEYS) else []
    for name, section in auth.items():
        # Streamlit rejects provider names with "_"; such a table would fail at st.login time.
        if isinstance(section, Mapping) and "_" not in name:
            if all(section.get(key) for key in _OIDC_PROVIDER_KEYS):
                found.append(str(name))
    return found


def oidc_configured(secrets: Mapping[str, Any]) -> bool:
    """True when Streamlit secrets hold a usable ``st.login`` configuration."""
    return bool(oidc_providers(secrets))


def _names(claim: Any) -> tuple[str, ...]:
    """A list, or a comma-separated string (some IdPs and hand-written secrets), as clean names."""
    if isinstance(claim, str):
        items: Iterable[Any] = claim.split(",")
    elif isinstance(claim, Iterable) and not isinstance(claim, Mapping):
        items = claim
    else:
        return ()
    cleaned = (str(item).strip() for item in items if item is not None)
    return tuple(dict.fromkeys(g for g in cleaned if g))  # ordered, without duplicates


def principal_from_oidc(
    user_info: Mapping[str, Any], admin_emails: Iterable[str], admin_groups: Iterable[str]
) -> Principal:
    """The principal for ``st.user``'s claims.

    The name is what access rules match, so it must identify one person: the e-mail (lower-cased),
    else the issuer's ``sub``; never ``name`` or ``preferred_username``, which OIDC says are not unique.
    An e-mail the provider marks ``email_verified = false`` is ignored: some providers let anyone type
    any address into a profile, and that must not grant admin or a restricted collection.
    """
    if user_info.get("is_logged_in") is False:
        return Principal.anonymous()
    email = str(user_info.get("email") or "").strip().lower()
    if str(user_info.get("email_verified")).lower() == "false":  # a bool, or a string from some IdPs
        email = ""
    name = email or str(user_info.get("sub") or "").strip()
    if not name:
        return Principal.anonymous()
    groups = _names(user_info.get("groups"))
    admin_by_email = bool(email) and email in {e.lower() for e in _names(admin_emails)}
    admin_by_group = bool(set(groups) & set(_names(admin_groups)))
    return Principal(name, groups, admin_by_email or admin_by_group)


# -- CLI ---------------------------------------------------------------------------------------
def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Admin password: ")
        if first != getpass.getpass("Again: "):
            raise SystemExit("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")  # a pipe: one line, spaces inside are kept


if __name__ == "__main__":
    if sys.argv[1:] != ["hash"]:
        raise SystemExit(f"usage: python -m app.auth hash  (for {ENV_ADMIN_HASH} or {SECRETS_ADMIN_HASH})")
    secret = _read_password()
    if not secret:
        raise SystemExit("refusing an empty password")
    print(hash_password(secret))
