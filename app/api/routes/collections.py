"""``GET /collections``: the collections the caller may read, and only those (the others are not named)."""

from fastapi import APIRouter

from app.api.dependencies import ERRORS, State, User
from app.api.schemas import CollectionOut

router = APIRouter()


@router.get("/collections", tags=["documents"], response_model=list[CollectionOut], responses=ERRORS)
def collections(who: User, api: State) -> list[CollectionOut]:
    """The collections the caller may read (the others are not named)."""
    store = api.parts.runtime.store
    found = []
    for name in store.collections():
        policy = store.policy(name)
        if policy.allows(who):
            found.append(
                CollectionOut(
                    name=name,
                    documents=len(store.documents(name)),
                    chunks=store.count(name),
                    restricted=policy.restricted,
                )
            )
    return found
