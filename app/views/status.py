"""About / status: what is live, and whether each part answers."""

from __future__ import annotations

import time

import streamlit as st

from app.services import services
from app.session import current_principal
from askdocs.models import is_packaged
from generation.generators.openai import without_credentials

st.title("About / status")
principal = current_principal()
svc = services()
s = svc.settings
store = svc.runtime.store


def check(name: str, probe) -> dict:  # noqa: ANN001 - a zero-argument callable
    started = time.perf_counter()
    try:
        detail = probe()
        took = f"{1000 * (time.perf_counter() - started):.0f} ms"
        return {"part": name, "healthy": "yes", "detail": str(detail), "took": took}
    except Exception as error:  # a health page reports failures, it does not raise them
        return {"part": name, "healthy": "NO", "detail": f"{type(error).__name__}: {error}"[:200], "took": ""}


def _api_models():  # noqa: ANN202
    import openai

    client = openai.OpenAI(
        base_url=s.api_base_url, api_key=s.api_key.get_secret_value(), timeout=3, max_retries=0
    )
    return client.models.list().data


st.subheader("Models and backends")
st.table(
    [
        {"role": "embedder", "model": s.embedder, "offline package": is_packaged(s.embedder)},
        {
            "role": "generator (local)",
            "model": s.generator_model,
            "offline package": is_packaged(s.generator_model),
        },
        # A user:password@ in the URL is a secret too.
        {
            "role": "generator (API)",
            "model": f"{s.api_model} at {without_credentials(s.api_base_url)}",
            "offline package": False,
        },
        {"role": "reranker", "model": s.reranker or "(off)", "offline package": False},
    ]
)
where = f" · data: {s.data_dir}" if principal.is_admin else ""  # a server path is for admins' eyes
st.caption(f"default generator backend: {s.generator_backend} · store: Chroma {s.chroma_mode}{where}")

st.subheader("Index")
rows = []
# Users see the collections they may search, nothing about the others (not even their names).
for collection in [c for c in store.collections() if store.policy(c).allows(principal)]:
    docs = store.documents(collection)
    policy = store.policy(collection)
    rows.append(
        {
            "collection": collection,
            "documents": len(docs),
            "chunks": store.count(collection),
            "BM25 version": svc.runtime.bm25.current_version(collection),
            "BM25 chunks": len(svc.runtime.bm25.get(collection)),
            "restricted to": ", ".join(sorted(policy.users | policy.groups)) or "everyone",
        }
    )
st.table(rows or [{"collection": "(none yet)"}])
if svc.index_check is not None:  # the start-up check of catalogue, chunks and BM25 (retrieval.consistency)
    st.caption(svc.index_check.summary())

st.subheader("Health")
if st.button("Check now") or "health" not in st.session_state:
    st.session_state.health = [
        check("vector store", lambda: f"{sum(store.count(c) for c in store.collections())} chunks"),
        check("embedder", lambda: f"{svc.runtime.embedder.embed(['health check']).shape[1]}-d vectors"),
        check("API backend", lambda: ", ".join(m.id for m in _api_models())),
    ]
st.table(st.session_state.health)
