"""Content-addressed identifiers.

A document is keyed by its collection and source name; its version is the
hash of its bytes; a chunk's id hashes (document, version, position, text).
The same file therefore always yields the same ids, which makes re-ingesting
it a no-op, and a changed file yields new ids that can be written before the
old ones are deleted. The document is part of the id because two files with
the same bytes (a copy under another name) must not share, and overwrite,
each other's chunks.
"""

from __future__ import annotations

import hashlib


def _digest(*parts: str | bytes, length: int) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode("utf-8"))
        h.update(b"\x1f")  # a separator, so ("ab", "c") and ("a", "bc") differ
    return h.hexdigest()[:length]


def document_id(collection: str, source: str) -> str:
    return _digest(collection, source, length=20)


def content_version(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk_id(doc_id: str, version: str, position: int, text: str) -> str:
    return _digest(doc_id, version, str(position), text, length=32)
