"""Backends by name: one registry per role, one line per backend.

A role package (``retrieval.embedders``, ``generation.generators``, ``ingest.loaders``, ...) holds a
:class:`Registry` whose entries map a setting's value to the class or factory that builds it. An entry
is either the object itself or a ``"package.module:attribute"`` string imported on first use, so a
backend with heavy dependencies (ONNX Runtime, llama.cpp) costs nothing until it is chosen. Adding a
backend is one new module and one line in its role's registry; the composition root
(``askdocs.runtime``) checks every backend setting against its registry before it builds anything, so
a typo fails at start-up with the list of choices instead of deep inside a request.

Example:
    >>> from askdocs.registry import Registry
    >>> shapes: Registry[type] = Registry("shape")
    >>> shapes.add("list", "builtins:list")
    >>> shapes.get("list") is list
    True
    >>> shapes.names()
    ('list',)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownBackend(ValueError):
    """A setting names a backend its role's registry does not hold."""


class Registry(Generic[T]):
    def __init__(self, role: str, entries: dict[str, T | str] | None = None) -> None:
        self.role = role
        self._entries: dict[str, T | str] = dict(entries or {})

    def add(self, name: str, entry: T | str, *, replace: bool = False) -> None:
        """Register ``entry`` under ``name``; a second entry under one name is a mistake unless ``replace``."""
        if name in self._entries and not replace:
            raise ValueError(f"{self.role} {name!r} is registered already")
        self._entries[name] = entry

    def remove(self, name: str) -> None:
        """Forget ``name`` (tests that registered a backend of their own clean up with this)."""
        self._entries.pop(name, None)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def check(self, name: str, setting: str = "") -> str:
        """``name`` if it is registered, else :class:`UnknownBackend` naming the setting and the choices."""
        if name not in self._entries:
            where = f"{setting}={name!r}" if setting else repr(name)
            choices = ", ".join(sorted(self._entries))
            raise UnknownBackend(f"{where} is not a known {self.role}; choose one of: {choices}")
        return name

    def get(self, name: str) -> T:
        """The registered object, imported on first use when registered by its dotted path."""
        entry = self._entries[self.check(name)]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            resolved: T = getattr(importlib.import_module(module), attribute)
            self._entries[name] = resolved
            return resolved
        return entry
