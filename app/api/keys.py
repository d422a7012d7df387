"""API keys for programs calling the REST API, and the principal each one acts as.

Design choices:
- A key is ``askd_<id>_<secret>``: 8 hex characters naming the key (safe to log, to list, to revoke
  by) and 32 random bytes (256 bits) of secret. The operator's keys file holds one line per key:
  ``<id> sha256$<salt>$<digest> <user> <groups|-> <user|admin>``; the key itself is never stored.
- Salted SHA-256, not the admin password's scrypt: scrypt is for secrets a human chose, which can be
  guessed; a 256-bit random key cannot, so a fast hash loses nothing, and scrypt's ~0.1 s and 32 MiB
  *per request* would make every API call slow and let a flood of bad keys exhaust memory.
  The salt keeps equal keys in two deployments from having equal lines. The digest is compared with
  ``hmac.compare_digest``; the id only chooses which line to compare against.
- A malformed keys file stops the server at start with the line number (never the line, which holds
  a hash): better than serving with a key silently missing. Edits need a restart.
- Keys act as a :class:`Principal`, exactly like a signed-in UI user, so collection policies apply
  to programs through the same check in the retriever.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from askdocs.types import Principal

PREFIX = "askd_"
_KEY = re.compile(r"askd_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[^\s,#]+")


class KeysFileError(ValueError):
    """The keys file cannot be read or has a malformed line."""


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    digest: str  # sha256$<salt b64>$<digest b64>
    principal: Principal

    def line(self) -> str:
        groups = ",".join(self.principal.groups) or "-"
        role = "admin" if self.principal.is_admin else "user"
        return f"{self.key_id} {self.digest} {self.principal.name} {groups} {role}"


def _digest(secret: str, salt: bytes) -> bytes:
    return hashlib.sha256(salt + secret.encode("ascii")).digest()


def new_key(user: str, groups: tuple[str, ...] = (), admin: bool = False) -> tuple[str, KeyRecord]:
    """A fresh key and its record. Show the key once; store only ``record.line()``.

    Example:
        >>> key, record = new_key("bob", ("sales",))
        >>> KeyRing([record]).principal(key)
        Principal(name='bob', groups=('sales',), is_admin=False)
    """
    if not _NAME.fullmatch(user):
        raise ValueError("the user name must be one word without commas")
    bad = [g for g in groups if not _NAME.fullmatch(g)]
    if bad:
        raise ValueError(f"group names must be single words without commas: {bad}")
    key_id = secrets.token_hex(4)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    salt = secrets.token_bytes(16)
    encoded = f"sha256${base64.b64encode(salt).decode()}${base64.b64encode(_digest(key, salt)).decode()}"
    return key, KeyRecord(key_id, encoded, Principal(user, tuple(groups), admin))


def parse_line(line: str) -> KeyRecord:
    fields = line.split()
    if len(fields) != 5:
        raise ValueError("expected 5 fields: id hash user groups role")
    key_id, encoded, user, groups, role = fields
    if not re.fullmatch(r"[0-9a-f]{8}", key_id):
        raise ValueError("the id must be 8 hex characters")
    scheme, _, rest = encoded.partition("$")
    salt_text, _, digest_text = rest.partition("$")
    try:
        ok = (
            scheme == "sha256"
            and base64.b64decode(salt_text, validate=True)
            and len(base64.b64decode(digest_text, validate=True)) == 32
        )
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("the hash must be sha256$<salt base64>$<digest base64>")
    if role not in ("user", "admin"):
        raise ValueError("the role must be 'user' or 'admin'")
    names = () if groups == "-" else tuple(g for g in groups.split(",") if g)
    return KeyRecord(key_id, encoded, Principal(user, names, role == "admin"))


class KeyRing:
    """The configured keys, looked up by id."""

    def __init__(self, records: list[KeyRecord] | tuple[KeyRecord, ...] = ()) -> None:
        self._by_id: Mapping[str, KeyRecord] = {r.key_id: r for r in records}

    def __len__(self) -> int:
        return len(self._by_id)

    @classmethod
    def from_file(cls, path: Path | None) -> KeyRing:
        """The keys in ``path``; no path, or a missing file, means no keys (everyone is anonymous)."""
        if path is None or not path.exists():
            return cls()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise KeysFileError(f"cannot read the API keys file {path}: {error}") from None
        records, seen = [], set()
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                record = parse_line(line)
            except ValueError as error:  # the message names the field, never the line's content
                raise KeysFileError(f"{path}, line {number}: {error}") from None
            if record.key_id in seen:
                raise KeysFileError(f"{path}, line {number}: the key id {record.key_id} appears twice")
            seen.add(record.key_id)
            records.append(record)
        return cls(records)

    def principal(self, key: str) -> Principal | None:
        """Who ``key`` acts as, or None when it is not a valid key here."""
        match = _KEY.fullmatch(key.strip())
        record = self._by_id.get(match.group(1)) if match else None
        if record is None:
            return None
        _, salt_text, digest_text = record.digest.split("$")
        expected = base64.b64decode(digest_text)
        if hmac.compare_digest(_digest(key.strip(), base64.b64decode(salt_text)), expected):
            return record.principal
        return None
