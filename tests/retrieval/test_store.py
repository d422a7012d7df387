"""One contract, run against every VectorStore: embedded Chroma, a real `chroma run` server, and the
in-memory store of ``tests/support/memory_store.py``, which also shows that a new backend is one module
plus one registry line."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from askdocs.registry import UnknownBackend
from askdocs.types import Chunk, DocumentRecord
from ingest.pipeline import Ingestor
from retrieval.access import CollectionPolicy
from retrieval.consistency import check
from retrieval.factory import open_retrieval
from retrieval.stores import STORES, EmbedderMismatch, StoreLocked, check_collection_name, store_from_settings
from retrieval.stores.chroma import ChromaStore
from tests.conftest import make_settings
from tests.fakes import HashingEmbedder
from tests.support.memory_store import MemoryStore

DIM = 8


def chunk(doc: str, version: str, position: int, text: str, collection: str = "docs") -> Chunk:
    return Chunk(
        f"{doc}-{version}-{position}",
        doc,
        f"{doc}.pdf",
        collection,
        version,
        position,
        text,
        position + 1,
        position + 1,
    )


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def memory_backend() -> Iterator[None]:
    """``store_backend="memory"`` for one test: the registry line a real backend would add."""
    STORES.add("memory", MemoryStore)
    yield
    STORES.remove("memory")


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.integration), "memory"])
def store(request, tmp_path):
    if request.param == "server":
        host, port = request.getfixturevalue("chroma_server")
        settings = make_settings(tmp_path, chroma_mode="server", chroma_host=host, chroma_port=port)
    elif request.param == "memory":
        request.getfixturevalue("memory_backend")
        settings = make_settings(tmp_path, store_backend="memory")
    else:
        settings = make_settings(tmp_path)
    store = store_from_settings(settings)
    collection = f"c{abs(hash(request.node.name)) % 10**8}"  # the server outlives each test
    yield store, collection
    store.close()


def test_upsert_query_and_get_round_trip(store):
    store, col = store
    chunks = [chunk("a", "v1", i, f"text {i}", col) for i in range(3)]
    vecs = vectors(3)
    store.upsert(chunks, vecs)
    assert store.count(col) == 3
    found = store.query(col, vecs[1], k=2)
    assert found[0][0] == chunks[1] and found[0][1] == pytest.approx(1.0, abs=1e-4)
    assert store.get_chunks(col, [chunks[2].chunk_id, "missing", chunks[0].chunk_id]) == [
        chunks[2],
        chunks[0],
    ]
    assert sorted(c.chunk_id for c in store.iter_chunks(col)) == sorted(c.chunk_id for c in chunks)
    assert col in store.collections()


def test_upsert_is_idempotent(store):
    store, col = store
    chunks = [chunk("a", "v1", i, f"text {i}", col) for i in range(3)]
    store.upsert(chunks, vectors(3))
    store.upsert(chunks, vectors(3))
    assert store.count(col) == 3


def test_delete_old_versions_keeps_the_new_one(store):
    store, col = store
    store.upsert([chunk("a", "v1", 0, "old", col), chunk("b", "v1", 0, "other", col)], vectors(2))
    store.upsert([chunk("a", "v2", 0, "new", col)], vectors(1, seed=1))
    store.delete_document(col, "a", keep_version="v2")
    assert sorted(c.text for c in store.iter_chunks(col)) == ["new", "other"]
    store.delete_document(col, "a")
    assert [c.text for c in store.iter_chunks(col)] == ["other"]


def test_chunks_on_a_page_come_in_reading_order(store):
    store, col = store
    chunks = [chunk("a", "v", i, f"text {i}", col) for i in (2, 0, 1)] + [chunk("b", "v", 0, "other", col)]
    store.upsert(chunks, vectors(4))
    # chunk() puts position p on page p + 1
    assert [c.text for c in store.chunks_on_page(col, "a", 2)] == ["text 1"]
    assert store.chunks_on_page(col, "a", 9) == [] and store.chunks_on_page("missing", "a", 1) == []


def test_query_filters_by_document(store):
    store, col = store
    chunks = [chunk("a", "v", 0, "x", col), chunk("b", "v", 0, "y", col)]
    vecs = vectors(2)
    store.upsert(chunks, vecs)
    assert [c.doc_id for c, _ in store.query(col, vecs[0], k=5, doc_ids=["b"])] == ["b"]


def test_catalogue_records(store):
    store, col = store
    record = DocumentRecord("a", "a.pdf", col, "v1", 3, 7, 1234, 1.5, "pdf")
    store.put_document(record)
    assert store.documents(col) == [record]
    assert store.document(col, "a") == record and store.document(col, "zz") is None
    store.delete_document(col, "a")
    assert store.documents(col) == []


def test_unknown_collection_is_empty_not_an_error(store):
    store, _ = store
    assert store.count("nothing-here") == 0
    assert store.query("nothing-here", vectors(1)[0], 3) == []
    assert store.documents("nothing-here") == []


def test_second_writer_on_the_embedded_path_gets_a_clear_error(tmp_path):
    settings = make_settings(tmp_path)
    first = store_from_settings(settings)
    try:
        with pytest.raises(StoreLocked, match="ASKDOCS_CHROMA_MODE=server"):
            store_from_settings(settings)
    finally:
        first.close()
    store_from_settings(settings).close()  # free again once the first one is closed


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "x" * 64, "é"])
def test_bad_collection_names_are_refused(name):
    with pytest.raises(ValueError):
        check_collection_name(name)


def test_a_collection_refuses_vectors_of_another_embedder(store):
    store, col = store
    store.bind_embedder("pkg:all-minilm-l6-v2#onnx-int8")
    store.upsert([chunk("a", "v1", 0, "text", col)], vectors(1))
    assert store.query(col, vectors(1)[0], 1)  # the same identity reads and writes
    store.bind_embedder("pkg:all-minilm-l6-v2")  # e.g. ASKDOCS_EMBEDDER_BACKEND switched back to torch
    with pytest.raises(EmbedderMismatch, match="indexed with pkg:all-minilm-l6-v2#onnx-int8"):
        store.query(col, vectors(1)[0], 1)
    with pytest.raises(EmbedderMismatch):
        store.upsert([chunk("b", "v1", 0, "text", col)], vectors(1))
    assert store.count(col) == 1
    store.bind_embedder("pkg:all-minilm-l6-v2")
    other = col + "-new"
    store.upsert([chunk("b", "v1", 0, "text", other)], vectors(1))  # a new collection takes the new identity
    assert store.query(other, vectors(1)[0], 1)


def test_a_collection_from_before_identities_counts_as_torch_vectors_of_its_spec(store):
    store, col = store
    store.upsert([chunk("a", "v1", 0, "text", col)], vectors(1))  # unbound: written as before this change
    store.bind_embedder("pkg:all-minilm-l6-v2#onnx-int8")
    with pytest.raises(EmbedderMismatch, match="indexed with pkg:all-minilm-l6-v2,"):
        store.query(col, vectors(1)[0], 1)
    store.bind_embedder("pkg:all-minilm-l6-v2")
    assert store.query(col, vectors(1)[0], 1)


def test_policies_and_created_collections(store):
    store, col = store
    assert store.policy(col) == CollectionPolicy()  # unknown: unrestricted
    store.create_collection(col)
    assert col in store.collections() and store.count(col) == 0
    policy = CollectionPolicy.restricted_to(users=["ada"], groups=["staff"])
    store.set_policy(col, policy)
    assert store.policy(col) == policy
    store.set_policy(col, CollectionPolicy())
    assert not store.policy(col).restricted


def test_chunk_ids_refs_and_vectors_read_back_what_was_written(store):
    store, col = store
    chunks = [chunk("a", "v1", i, f"text {i}", col) for i in range(3)]
    vecs = vectors(3)
    store.upsert(chunks, vecs)
    assert sorted(store.chunk_ids(col)) == sorted(c.chunk_id for c in chunks)
    assert sorted(store.iter_chunk_refs(col)) == sorted(
        (c.chunk_id, "a", "a.pdf", "v1", c.position) for c in chunks
    )
    read = {c.chunk_id: (c, v) for c, v in store.iter_chunk_vectors(col)}
    for original, vector in zip(chunks, vecs):
        assert read[original.chunk_id][0] == original
        np.testing.assert_allclose(read[original.chunk_id][1], vector, atol=1e-6)
    assert store.chunk_ids("nothing-here") == [] and list(store.iter_chunk_vectors("nothing-here")) == []


def test_a_write_with_mismatched_embeddings_is_refused(store):
    store, col = store
    store.upsert([], np.zeros((0, DIM), dtype=np.float32))  # nothing to write is not an error
    with pytest.raises(ValueError, match="2 chunks but 1 embeddings"):
        store.upsert([chunk("a", "v1", 0, "x", col), chunk("a", "v1", 1, "y", col)], vectors(1))
    with pytest.raises(ValueError, match="invalid collection name"):
        store.upsert([chunk("a", "v1", 0, "x", "a b")], vectors(1))


def test_the_setting_picks_the_backend_and_an_unknown_one_lists_the_choices(tmp_path, memory_backend):
    store = store_from_settings(make_settings(tmp_path, store_backend="memory"))
    assert isinstance(store, MemoryStore)
    chroma = store_from_settings(make_settings(tmp_path))
    assert isinstance(chroma, ChromaStore)  # the default, "chroma"
    chroma.close()
    with pytest.raises(
        UnknownBackend, match=r"store_backend='qdrant' is not a known store; choose one of: chroma, memory"
    ):
        store_from_settings(make_settings(tmp_path, store_backend="qdrant"))


TEXT = b"""# Sorting

The operator module provides the itemgetter() and attrgetter() functions used for sorting.
Sorts are guaranteed to be stable: records with equal keys keep their original order.
"""


def test_ingest_and_retrieve_end_to_end_on_the_memory_store(tmp_path, memory_backend):
    settings = make_settings(tmp_path, store_backend="memory")
    stack = open_retrieval(settings, embedder=HashingEmbedder())
    assert isinstance(stack.store, MemoryStore)
    ingestor = Ingestor(stack.store, stack.embedder, stack.bm25, settings)
    assert ingestor.ingest_bytes("sorting.md", TEXT, "default").status == "ingested"
    ingestor.rebuild_bm25("default")
    hits = stack.retriever.retrieve("Which module provides itemgetter and attrgetter?", "default").hits
    assert hits and hits[0].chunk.source == "sorting.md"
    assert check(stack.store, stack.bm25).consistent
    assert ingestor.ingest_bytes("sorting.md", TEXT, "default").status == "unchanged"
    stack.close()
