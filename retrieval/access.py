"""Who may read a collection.

A collection is open to everyone unless it names users or groups; then only
those users, members of those groups, and admins can search it. The check runs
inside the retriever, on the server, for every query: hiding a collection in
the UI is a convenience, never the protection. The policy is stored with the
collection in Chroma, so every replica sharing a Chroma server enforces the
same one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from askdocs.types import Principal


class AccessDenied(PermissionError):
    """The principal may not read this collection."""


@dataclass(frozen=True)
class CollectionPolicy:
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def restricted_to(cls, users: Iterable[str] = (), groups: Iterable[str] = ()) -> CollectionPolicy:
        clean = lambda names: frozenset(n.strip() for n in names if n and n.strip())  # noqa: E731
        return cls(clean(users), clean(groups))

    @property
    def restricted(self) -> bool:
        return bool(self.users or self.groups)

    def allows(self, principal: Principal | None) -> bool:
        """``None`` is the local operator (command line, evaluation), trusted like an admin."""
        if not self.restricted or principal is None or principal.is_admin:
            return True
        return (principal.name is not None and principal.name in self.users) or bool(
            self.groups.intersection(principal.groups)
        )

    def to_metadata(self) -> dict[str, str]:
        return {
            "allowed_users": ",".join(sorted(self.users)),
            "allowed_groups": ",".join(sorted(self.groups)),
        }

    @classmethod
    def from_metadata(cls, metadata: dict | None) -> CollectionPolicy:
        metadata = metadata or {}
        split = lambda key: str(metadata.get(key) or "").split(",")  # noqa: E731
        return cls.restricted_to(split("allowed_users"), split("allowed_groups"))
