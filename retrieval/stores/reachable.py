"""A server-mode store whose "server unreachable" errors all raise one typed error.

In server mode ``store_from_settings`` wraps the store so that a Chroma server going away raises
:class:`~retrieval.stores.StoreUnavailable` from every store call, which the app catches and
explains. Nothing is reopened when the server returns: chromadb's HTTP client opens a new connection
on the next call (tested by stopping and restarting a real ``chroma run``), and collections keep
their ids.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from retrieval.stores import StoreUnavailable, VectorStore


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the Chroma server could not be reached, rather than a real failure."""
    import httpx

    # chromadb turns a refused connection while opening the client into a bare ValueError.
    return isinstance(error, httpx.TransportError) or isinstance(error.__context__, httpx.TransportError)


def unavailable_message(host: str, port: int) -> str:
    return f"the document index (Chroma server at {host}:{port}) is unreachable; try again shortly"


class ReachableStore:
    """A server-mode :class:`VectorStore` whose "server unreachable" errors raise :class:`StoreUnavailable`.

    It forwards every attribute, so the store keeps one implementation for both modes.
    """

    def __init__(self, store: VectorStore, host: str, port: int) -> None:
        self._store = store
        self._message = unavailable_message(host, port)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        return self._guard(attribute) if callable(attribute) else attribute

    def _guard(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
            except Exception as error:
                if unreachable(error):
                    raise StoreUnavailable(self._message) from None
                raise
            return self._guard_iteration(result) if inspect.isgenerator(result) else result

        return call

    def _guard_iteration(self, items: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from items
        except Exception as error:
            if unreachable(error):
                raise StoreUnavailable(self._message) from None
            raise
