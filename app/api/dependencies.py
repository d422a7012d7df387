"""Who is asking, and what the routes may touch: the FastAPI dependencies the routes declare.

A key is the bearer token (``app.api.keys``); no ``Authorization`` header is the anonymous visitor,
a wrong key is 401 and never echoed back. The key's :class:`Principal` is checked against the
collection's policy here for listings, and by the retriever for answers: the same check the UI uses.
"""

from typing import Annotated, Any

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.errors import problem
from app.api.schemas import COLLECTION, Problem
from app.api.state import ApiState, api_state
from askdocs.types import Principal

bearer = HTTPBearer(auto_error=False, description="An API key from `python -m app.api keys new`.")


def principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None
) -> Principal:
    header = request.headers.get("authorization")
    if header is None:
        return Principal.anonymous()
    scheme, _space, key = header.partition(" ")
    found = api_state(request).parts.keys.principal(key) if scheme.lower() == "bearer" else None
    if found is None:  # never echo the key back
        raise problem(401, "invalid API key", **{"WWW-Authenticate": "Bearer"})
    return found


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.name is None:
        raise problem(401, "this needs an admin's API key", **{"WWW-Authenticate": "Bearer"})
    if not who.is_admin:
        raise problem(403, "this needs an admin's API key")
    return who


def readable(api: ApiState, collection: str, who: Principal) -> None:
    store = api.parts.runtime.store
    if collection not in store.collections():
        raise problem(404, f"no collection {collection!r}")
    if not store.policy(collection).allows(who):
        raise problem(403, f"you do not have access to the collection {collection!r}")


State = Annotated[ApiState, Depends(api_state)]
User = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
CollectionName = Annotated[str, Path(pattern=COLLECTION)]
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (401, 403, 404, 422)}
