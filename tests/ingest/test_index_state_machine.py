"""A hypothesis state machine over add / change / re-ingest / delete / refuse / crash / rebuild.

The real Ingestor, a real embedded Chroma and real BM25 files in a temporary folder; only the
embedder is a fast hashing fake (the real one is in ``test_crash_consistency.py``). The model is
just ``source -> text``: what a user who did those things expects the collection to hold. After
every step the whole index is checked against it (``index_invariants.index_problems``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ingest.ids import content_version
from ingest.pipeline import Ingestor
from retrieval.bm25 import BM25Directory
from retrieval.consistency import repair
from retrieval.stores import store_from_settings
from tests.conftest import make_settings
from tests.ingest.index_invariants import Crash, CrashingStore, TinyEmbedder, index_problems

pytestmark = [pytest.mark.unit, pytest.mark.slow]

COL = "default"
NAMES = ["a.md", "b.txt", "sub/c.md", "d.md"]
# A small pool, so that the same text under two names (a copy, which must keep its own chunks) and
# changes back to an earlier version come up often; short texts are one chunk, long ones several
# (chunk_tokens=24).
_POOL = [
    "alpha beta gamma.",
    "walrus heron ibis tusk.",
    "zstd sqlite token secret delta.\n\n" * 4,
    "alpha walrus zstd heron sqlite.\n\n" * 6,
    "gamma delta tusk ibis secret token beta.\n\n" * 3,
]
TEXTS = st.sampled_from(_POOL)


class IndexMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="askdocs-sm-"))
        self.settings = make_settings(self.tmp / "data", chunk_tokens=24, chunk_overlap_tokens=4)
        self.store = store_from_settings(self.settings)
        bm25 = BM25Directory(self.settings.bm25_dir)
        self.ingestor = Ingestor(self.store, TinyEmbedder(), bm25, self.settings)
        self.model: dict[str, str] = {}

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _ingest(self, name: str, text: str | bytes) -> str:
        """Ingest one file as the CLI and the upload queue do (BM25 rebuilt or synced after)."""
        folder = self.tmp / "upload"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        [outcome] = self.ingestor.ingest_paths([folder], COL)
        assert outcome.source == name
        return outcome.status

    # -- rules ---------------------------------------------------------------------------------
    @rule(name=st.sampled_from(NAMES), text=TEXTS)
    def add_or_change(self, name: str, text: str) -> None:
        before = self.model.get(name)
        status = self._ingest(name, text)
        expected = "ingested" if before is None else "unchanged" if before == text else "updated"
        assert status == expected
        self.model[name] = text

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def re_ingest_same_content(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.model)))
        version = self.ingestor.bm25.current_version(COL)
        assert self._ingest(name, self.model[name]) == "unchanged"
        assert self.ingestor.bm25.current_version(COL) == version  # nothing changed, nothing rebuilt

    @rule(name=st.sampled_from(NAMES))
    def delete(self, name: str) -> None:
        outcome = self.ingestor.delete(COL, name)
        assert outcome.status == ("deleted" if name in self.model else "not found")
        self.model.pop(name, None)

    @rule(name=st.sampled_from(NAMES))
    def refused_upload_loses_nothing(self, name: str) -> None:
        assert self._ingest(name, b"") == "refused"  # an empty file; whatever was stored stays

    @rule(name=st.sampled_from(NAMES), text=TEXTS, crash_at=st.integers(min_value=0, max_value=2))
    def interrupted_ingestion_then_start_up_repair(self, name: str, text: str, crash_at: int) -> None:
        """The process dies before write ``crash_at`` (upsert, catalogue record, old-version delete)."""
        if self.model.get(name) == text:
            return  # unchanged content writes nothing, so there is nothing to interrupt
        crashing = Ingestor(
            CrashingStore(self.store, crash_at, [0]), TinyEmbedder(), self.ingestor.bm25, self.settings
        )
        with pytest.raises(Crash):
            crashing.ingest_bytes(name, text.encode(), COL)
        report = repair(self.store, BM25Directory(self.settings.bm25_dir))  # as a restarted process would
        assert report.consistent and bool(report.repaired) == (crash_at > 0)  # before write 0, nothing to do
        if crash_at == 2:  # the catalogue record (write 1) was written: the new version stands
            self.model[name] = text

    @rule()
    def rebuild_bm25(self) -> None:
        self.ingestor.rebuild_bm25(COL)

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def index_matches_the_model(self) -> None:
        assert index_problems(self.store, self.ingestor.bm25, COL) == []
        records = {r.source: r for r in self.store.documents(COL)}
        assert set(records) == set(self.model)
        for name, text in self.model.items():
            assert records[name].version == content_version(text.encode())
        chunks = sum(r.chunks for r in records.values())
        assert len(self.ingestor.bm25.get(COL)) == self.store.count(COL) == chunks


IndexMachine.TestCase.settings = settings(
    max_examples=12,
    stateful_step_count=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestIndexStateMachine = IndexMachine.TestCase
