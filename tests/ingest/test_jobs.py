"""The ingestion queue: states, order and failure handling with a scripted fake, then once for real."""

from __future__ import annotations

import threading
import time

import pytest

from ingest.jobs import FileStatus, IngestionQueue, JobStatus
from ingest.pipeline import Ingestor, IngestOutcome
from retrieval.factory import open_retrieval
from tests.conftest import SAMPLE_DOCS

WAIT = 30.0  # seconds; a fake job takes milliseconds, so hitting this means a hang


class FakeIngestor:
    """Scripted outcomes by file name: a status, or an exception to raise. Records every call in order.

    A name in ``gates`` blocks inside ``ingest_bytes`` until its event is set, so a test can look at a
    job while one file is working and the rest are queued.
    """

    def __init__(self, script: dict[str, str | BaseException] | None = None) -> None:
        self.script = script or {}
        self.calls: list[tuple] = []
        self.gates: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}
        self.bm25_error: BaseException | None = None
        self.threads: set[str] = set()

    def gate(self, name: str) -> threading.Event:
        self.entered[name] = threading.Event()
        self.gates[name] = threading.Event()
        return self.gates[name]

    def ingest_bytes(self, name: str, data: bytes, collection: str) -> IngestOutcome:
        self.threads.add(threading.current_thread().name)
        self.calls.append(("ingest", name, data, collection))
        if name in self.gates:
            self.entered[name].set()
            assert self.gates[name].wait(WAIT)
        scripted = self.script.get(name, "ingested")
        if isinstance(scripted, BaseException):
            raise scripted
        return IngestOutcome(name, scripted, f"scripted {scripted}")  # type: ignore[arg-type]

    def rebuild_bm25(self, collection: str) -> int:
        self.calls.append(("rebuild", collection))
        if self.bm25_error:
            raise self.bm25_error
        return 7

    def sync_bm25(self, collection: str) -> None:
        self.calls.append(("sync", collection))


def statuses(job: JobStatus) -> list[tuple[str, str, str | None]]:
    return [(f.name, f.state, f.outcome.status if f.outcome else None) for f in job.files]


# -- unit: a scripted fake ---------------------------------------------------------------------
@pytest.mark.unit
def test_files_go_queued_working_done_in_order_then_bm25_once():
    fake = FakeIngestor({"b.md": "unchanged"})
    release = fake.gate("a.pdf")
    jobs = IngestionQueue(fake)
    job_id = jobs.submit([("a.pdf", b"A"), ("b.md", b"B"), ("c.txt", b"C")], "default")
    assert fake.entered["a.pdf"].wait(WAIT)
    during = jobs.job(job_id)
    assert statuses(during) == [
        ("a.pdf", "working", None),
        ("b.md", "queued", None),
        ("c.txt", "queued", None),
    ]
    assert not during.finished and during.progress == 0
    release.set()
    done = jobs.wait(job_id, WAIT)
    assert done.finished and done.finished_at and done.progress == 1
    assert statuses(done) == [
        ("a.pdf", "done", "ingested"),
        ("b.md", "done", "unchanged"),
        ("c.txt", "done", "ingested"),
    ]
    assert fake.calls == [
        ("ingest", "a.pdf", b"A", "default"),
        ("ingest", "b.md", b"B", "default"),
        ("ingest", "c.txt", b"C", "default"),
        ("rebuild", "default"),
    ]
    assert "version 7" in done.detail
    assert statuses(during)[0][1] == "working"  # an old snapshot never changes under the reader
    assert fake.threads == {"askdocs-ingest"}  # never on the caller's thread


@pytest.mark.unit
def test_a_raising_file_is_refused_and_the_rest_and_later_jobs_still_run():
    fake = FakeIngestor({"boom.pdf": RuntimeError("secret path /etc/x"), "bad.pdf": "refused"})
    jobs = IngestionQueue(fake)
    first = jobs.submit([("boom.pdf", b"1"), ("ok.md", b"2"), ("bad.pdf", b"3")], "docs")
    second = jobs.submit([("later.md", b"4")], "docs")
    done = jobs.wait(first, WAIT)
    assert statuses(done) == [
        ("boom.pdf", "done", "refused"),
        ("ok.md", "done", "ingested"),
        ("bad.pdf", "done", "refused"),
    ]
    assert done.files[0].outcome == IngestOutcome("boom.pdf", "refused", "internal error: RuntimeError")
    assert statuses(jobs.wait(second, WAIT)) == [("later.md", "done", "ingested")]


@pytest.mark.unit
def test_a_job_that_changed_nothing_only_syncs_bm25():
    fake = FakeIngestor({"a.md": "unchanged", "b.pdf": "refused"})
    jobs = IngestionQueue(fake)
    done = jobs.wait(jobs.submit([("a.md", b"a"), ("b.pdf", b"b")], "default"), WAIT)
    assert [c[0] for c in fake.calls] == ["ingest", "ingest", "sync"]
    assert done.detail.startswith("nothing changed")


@pytest.mark.unit
def test_jobs_run_in_submission_order_and_are_listed_newest_first():
    fake = FakeIngestor()
    release = fake.gate("one.md")
    jobs = IngestionQueue(fake)
    ids = [jobs.submit([("one.md", b"1")], "c1"), jobs.submit([("two.md", b"2")], "c2")]
    ids.append(jobs.submit_reindex("c1"))
    assert [j.id for j in jobs.jobs()] == ids[::-1]
    assert [j.finished for j in jobs.jobs()] == [False, False, False]
    release.set()
    reindex = jobs.wait(ids[2], WAIT)
    assert fake.calls == [
        ("ingest", "one.md", b"1", "c1"),
        ("rebuild", "c1"),
        ("ingest", "two.md", b"2", "c2"),
        ("rebuild", "c2"),
        ("rebuild", "c1"),
    ]
    assert reindex.kind == "reindex" and reindex.files == ()
    assert reindex.detail == "BM25 index rebuilt (version 7)"
    assert all(j.finished for j in jobs.jobs())


@pytest.mark.unit
def test_one_lazy_worker_thread_serves_every_job():
    def workers() -> int:
        return sum(t.name == "askdocs-ingest" for t in threading.enumerate())

    before = workers()
    jobs = IngestionQueue(FakeIngestor())
    assert workers() == before  # nothing started by the constructor
    ids = [jobs.submit([(f"{i}.md", b"x")], "default") for i in range(5)]
    for job_id in ids:
        jobs.wait(job_id, WAIT)
    assert workers() == before + 1


@pytest.mark.unit
def test_bytes_are_dropped_once_a_file_is_done():
    fake = FakeIngestor()
    release = fake.gate("second.md")
    jobs = IngestionQueue(fake)
    job_id = jobs.submit([("first.md", b"x" * 1000), ("second.md", b"y" * 1000)], "default")
    assert fake.entered["second.md"].wait(WAIT)
    assert jobs._data[job_id][0] is None and jobs._data[job_id][1] is not None
    release.set()
    jobs.wait(job_id, WAIT)
    assert job_id not in jobs._data


@pytest.mark.unit
def test_a_failing_factory_refuses_the_files_and_is_retried_by_the_next_job():
    attempts: list[str] = []
    fake = FakeIngestor()

    def factory() -> FakeIngestor:
        attempts.append(threading.current_thread().name)
        if len(attempts) == 1:
            raise OSError("store locked")
        return fake

    jobs = IngestionQueue(factory)  # type: ignore[arg-type]
    assert attempts == []  # lazily, on the worker
    failed = jobs.wait(jobs.submit([("a.md", b"a")], "default"), WAIT)
    assert failed.finished and failed.files[0].outcome.detail == "internal error: OSError"
    assert "BM25 index not rebuilt" in failed.detail
    ok = jobs.wait(jobs.submit([("a.md", b"a")], "default"), WAIT)
    assert statuses(ok) == [("a.md", "done", "ingested")] and attempts == ["askdocs-ingest"] * 2


@pytest.mark.unit
def test_a_failing_bm25_rebuild_finishes_the_job_with_the_reason():
    fake = FakeIngestor()
    fake.bm25_error = MemoryError()
    jobs = IngestionQueue(fake)
    done = jobs.wait(jobs.submit([("a.md", b"a")], "default"), WAIT)
    assert done.finished and done.detail == "BM25 index not rebuilt: internal error: MemoryError"
    assert statuses(done) == [("a.md", "done", "ingested")]


@pytest.mark.unit
def test_bad_arguments_fail_at_once():
    jobs = IngestionQueue(FakeIngestor())
    with pytest.raises(ValueError, match="no files"):
        jobs.submit([], "default")
    with pytest.raises(ValueError, match="invalid collection name"):
        jobs.submit([("a.md", b"a")], "../etc")
    with pytest.raises(TypeError):
        IngestionQueue(42)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        jobs.job("no-such-job")
    assert jobs.jobs() == []


@pytest.mark.unit
def test_only_the_newest_finished_jobs_are_remembered():
    jobs = IngestionQueue(FakeIngestor(), keep=3)
    ids = []
    for i in range(6):
        ids.append(jobs.submit([(f"{i}.md", b"x")], "default"))
        jobs.wait(ids[-1], WAIT)
    assert [j.id for j in jobs.jobs()] == ids[::-1][:3]


@pytest.mark.unit
def test_snapshots_are_frozen():
    status = FileStatus("a.md", "queued")
    with pytest.raises(AttributeError):
        status.state = "done"  # type: ignore[misc]


# -- integration: the real Ingestor ------------------------------------------------------------
def wait_polling(jobs: IngestionQueue, job_id: str, seconds: float) -> JobStatus:
    """Poll as the UI does on each rerun, for a bounded time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = jobs.job(job_id)
        if job.finished:
            return job
        time.sleep(0.2)
    pytest.fail(f"job {job_id} not finished after {seconds:.0f} s: {jobs.job(job_id)}")


@pytest.mark.integration
@pytest.mark.slow
def test_real_ingestion_off_the_calling_thread(settings, embedder, zip_bytes):
    stack = open_retrieval(settings, embedder=embedder)
    try:

        def make() -> Ingestor:  # called on the worker thread, as the app does
            return Ingestor(stack.store, stack.embedder, stack.bm25, settings)

        jobs = IngestionQueue(make)
        names = ("python_ipaddress_howto.txt", "zstd_README.md")
        files = [(name, (SAMPLE_DOCS / name).read_bytes()) for name in names]
        job_id = jobs.submit([*files, ("report.pdf", zip_bytes)], "default")
        done = wait_polling(jobs, job_id, 300)
        assert statuses(done) == [
            ("python_ipaddress_howto.txt", "done", "ingested"),
            ("zstd_README.md", "done", "ingested"),
            ("report.pdf", "done", "refused"),
        ], [f.outcome for f in done.files]
        assert "zip" in done.files[2].outcome.detail.lower()
        assert all(f.outcome.chunks > 0 for f in done.files[:2])
        chunks = sum(f.outcome.chunks for f in done.files)
        assert len(stack.bm25.get("default")) == stack.store.count("default") == chunks
        hits = stack.retriever.retrieve("How do I create an IPv4 network object?", "default").hits
        assert hits and hits[0].chunk.source == "python_ipaddress_howto.txt"
        zstd = stack.retriever.retrieve("zstd compression levels", "default").hits
        assert zstd[0].chunk.source == "zstd_README.md" and zstd[0].stage("bm25") is not None
        again = wait_polling(jobs, jobs.submit(files, "default"), 120)  # same bytes: nothing to do
        assert [f.outcome.status for f in again.files] == ["unchanged", "unchanged"]
    finally:
        stack.close()
