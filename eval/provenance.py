"""What a run records about where it came from: the code revision and the settings, minus secrets.

Run folders get shared, attached to issues and committed to ``docs/``, so the
settings stored in them must not carry credentials. Redaction goes by whole
words of a setting's name, not substrings, and never touches numbers: counts
such as ``chunk_tokens`` and ``max_prompt_tokens`` stay, while ``api_key``,
``hf_token`` or ``admin_password`` go. Anything typed ``SecretStr`` goes
whatever its name, and a user name or password inside a URL is dropped.
Removed settings are left out entirely rather than masked, so a masked value
can never be mistaken for a real one.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

_CREDENTIAL_WORDS = frozenset(
    {"key", "apikey", "password", "passwd", "secret", "token", "credential", "credentials"}
)
_URL_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def git_revision(repo_root: Path) -> str:
    """``git rev-parse HEAD``, plus ``-dirty`` when the work tree has changes; "unknown" outside git."""
    try:
        head = _git(repo_root, "rev-parse", "HEAD")
        dirty = bool(_git(repo_root, "status", "--porcelain"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "") if head else "unknown"


def public_settings(settings: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """Settings (the askdocs ``Settings`` or a plain mapping) as a JSON-ready dict without credentials."""
    if isinstance(settings, BaseModel):
        raw: Mapping[str, Any] = settings.model_dump()  # python mode keeps SecretStr recognisable
    elif isinstance(settings, Mapping):
        raw = settings
    else:
        raise TypeError(f"expected Settings or a mapping, got {type(settings).__name__}")
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if is_credential(str(name), value):
            continue
        out[str(name)] = _public_value(value)
    return out


def is_credential(name: str, value: Any) -> bool:
    """True for a setting that holds a secret: see the module notes for the rule."""
    if isinstance(value, (SecretStr, SecretBytes)):
        return True
    words = set(re.split(r"[_\-.\s]+", name.lower()))
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return bool(words & _CREDENTIAL_WORDS) and not numeric


def _public_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return public_settings(value)
    if isinstance(value, (list, tuple)):
        return [_public_value(v) for v in value]
    if isinstance(value, str):
        return _URL_USERINFO.sub(r"\1", value)
    if isinstance(value, Enum):
        return _public_value(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return str(value)


def _git(repo_root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo_root, capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()
