"""Ingestion off the UI thread: a queue of jobs served by one worker thread.

Design choices:
- One worker, jobs in submission order: the embedded Chroma path has one writer anyway, ingestion is
  CPU-bound on the embedder, and each job's BM25 rebuild then sees every earlier job's chunks.
- The worker is a daemon thread started on the first submit: constructing the queue (inside
  ``st.cache_resource``) costs nothing, and the thread never keeps the process alive at exit.
- Readers get snapshots: a job's state is a frozen ``JobStatus`` that the worker replaces whole,
  under a lock, at every step; a Streamlit rerun polling progress never sees a half-updated job.
- The worker must never die: ``Ingestor.ingest_bytes`` turns bad files into "refused", and anything
  unexpected becomes "refused" with "internal error: <type>" and a logged traceback (only the type
  reaches the user: an exception's text can carry paths or document content).
- Files go through ``Ingestor.ingest_many``, which parses and chunks the next files on a helper thread
  while this one is embedded; "working" marks the file being embedded and written. A file whose
  ingestion raised ends that pass; the job goes on from the file after it.
- BM25 is rebuilt once per job, after its files, as ``Ingestor.ingest_paths`` does; a job that changed
  nothing only syncs it. File bytes are dropped as each file is done and only the newest ``keep``
  finished jobs are remembered, so a long-running app does not accumulate uploads in memory.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ingest.pipeline import Ingestor, IngestOutcome
from retrieval.stores import check_collection_name

log = logging.getLogger(__name__)

FileState = Literal["queued", "working", "done"]
JobKind = Literal["ingest", "reindex"]


@dataclass(frozen=True)
class FileStatus:
    name: str
    state: FileState
    outcome: IngestOutcome | None = None


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job; ``detail`` reports the BM25 step (or why it failed)."""

    id: str
    collection: str
    created_at: float
    finished: bool = False
    files: tuple[FileStatus, ...] = ()
    kind: JobKind = "ingest"
    detail: str = ""
    finished_at: float | None = None

    @property
    def progress(self) -> float:
        """Fraction of the job done, for a progress bar (BM25 counts as the last step)."""
        return (sum(f.state == "done" for f in self.files) + self.finished) / (len(self.files) + 1)


class IngestionQueue:
    """Runs ingestion jobs on one background thread and reports their progress.

    Example:
        >>> jobs = IngestionQueue(lambda: Ingestor(store, embedder, bm25, settings))  # doctest: +SKIP
        >>> job_id = jobs.submit([("notes.md", b"# Notes")], "default")  # doctest: +SKIP
        >>> jobs.wait(job_id, timeout=60).files[0].outcome.status  # doctest: +SKIP
        'ingested'
    """

    def __init__(self, ingestor_factory: Callable[[], Ingestor] | Ingestor, keep: int = 100) -> None:
        # Anything with ingest_bytes is an ingestor (fakes included); otherwise a factory, called on
        # the worker thread, so that loading models for it does not freeze the page either.
        if not hasattr(ingestor_factory, "ingest_bytes") and not callable(ingestor_factory):
            raise TypeError("IngestionQueue needs an Ingestor or a callable returning one")
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._source: Any = ingestor_factory
        self._ingestor: Ingestor | None = None
        self._keep = keep
        self._jobs: dict[str, JobStatus] = {}  # in submission order
        self._data: dict[str, list[bytes | None]] = {}  # the uploads not yet processed, by job
        self._pending: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._changed = threading.Condition()  # guards the two dicts; notified at every step
        self._thread: threading.Thread | None = None

    # -- the UI side -------------------------------------------------------------------------------
    def submit(self, files: Sequence[tuple[str, bytes]], collection: str) -> str:
        """Queue ``files`` (name, bytes) for ``collection``; returns the job id at once."""
        if not files:
            raise ValueError("no files to ingest")
        statuses = tuple(FileStatus(name, "queued") for name, _ in files)
        return self._enqueue(collection, "ingest", statuses, [bytes(data) for _, data in files])

    def submit_reindex(self, collection: str) -> str:
        """Queue a BM25 rebuild of ``collection`` (after any jobs already queued)."""
        return self._enqueue(collection, "reindex", (), [])

    def job(self, job_id: str) -> JobStatus:
        """The current state of one job; KeyError for an unknown (or long forgotten) id."""
        with self._changed:
            return self._jobs[job_id]

    def jobs(self) -> list[JobStatus]:
        """Every remembered job, newest first."""
        with self._changed:
            return list(reversed(self._jobs.values()))

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until the job finishes or ``timeout`` seconds pass; returns its latest snapshot."""
        with self._changed:
            self._changed.wait_for(lambda: self._jobs[job_id].finished, timeout)
            return self._jobs[job_id]

    def _enqueue(
        self, collection: str, kind: JobKind, files: tuple[FileStatus, ...], data: list[bytes | None]
    ) -> str:
        collection = check_collection_name(collection)
        job = JobStatus(uuid.uuid4().hex[:12], collection, time.time(), files=files, kind=kind)
        with self._changed:
            self._jobs[job.id], self._data[job.id] = job, data
            finished = [old.id for old in self._jobs.values() if old.finished]
            for old_id in finished[: max(0, len(self._jobs) - self._keep)]:
                del self._jobs[old_id]
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="askdocs-ingest", daemon=True)
                self._thread.start()
        self._pending.put(job.id)
        return job.id

    # -- the worker side ---------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job_id = self._pending.get()
            try:
                self._run(job_id)
            except Exception:  # a bug in the bookkeeping itself: log it, finish the job, keep serving
                log.exception("ingestion job %s failed", job_id)
            finally:
                self._update(job_id, finished=True, finished_at=time.time())

    def _run(self, job_id: str) -> None:
        with self._changed:
            job, data = self._jobs[job_id], self._data[job_id]
        try:  # made here, on the worker; if the factory fails this job is refused, the next one retries
            if self._ingestor is None:
                source = self._source
                self._ingestor = source if hasattr(source, "ingest_bytes") else source()
            ingestor = self._ingestor
        except Exception as error:
            log.exception("could not create the ingestor")
            reason = f"internal error: {type(error).__name__}"
            done = [FileStatus(f.name, "done", IngestOutcome(f.name, "refused", reason)) for f in job.files]
            self._update(job_id, files=tuple(done), detail=f"BM25 index not rebuilt: {reason}")
            return
        names, start = [f.name for f in job.files], 0
        while start < len(names):  # once, unless a file raised: then again from the file after it
            rest = [(names[i], i) for i in range(start, len(names))]
            if hasattr(ingestor, "ingest_many"):  # the real Ingestor: parses the next files while embedding
                outcomes = ingestor.ingest_many(((n, data[i] or b"") for n, i in rest), job.collection)
            else:
                outcomes = (ingestor.ingest_bytes(n, data[i] or b"", job.collection) for n, i in rest)
            i = start
            self._update(job_id, file=(i, FileStatus(names[i], "working")))
            try:
                for outcome in outcomes:
                    self._update(job_id, file=(i, FileStatus(names[i], "done", outcome)))
                    i += 1
                    if i < len(names):
                        self._update(job_id, file=(i, FileStatus(names[i], "working")))
            except Exception as error:
                log.exception("ingesting %r raised", names[i])
                outcome = IngestOutcome(names[i], "refused", f"internal error: {type(error).__name__}")
                self._update(job_id, file=(i, FileStatus(names[i], "done", outcome)))
                i += 1
            start = i
        outcomes = [f.outcome for f in self.job(job_id).files]
        changed = any(o is not None and o.status in ("ingested", "updated") for o in outcomes)
        try:
            if job.kind == "reindex" or changed:
                version = ingestor.rebuild_bm25(job.collection)
                self._update(job_id, detail=f"BM25 index rebuilt (version {version})")
            else:
                ingestor.sync_bm25(job.collection)
                self._update(job_id, detail="nothing changed; BM25 index checked")
        except Exception as error:  # the chunks are stored; a later job or a re-index rebuilds BM25
            log.exception("BM25 rebuild for %r failed", job.collection)
            self._update(job_id, detail=f"BM25 index not rebuilt: internal error: {type(error).__name__}")

    def _update(self, job_id: str, file: tuple[int, FileStatus] | None = None, **changes: object) -> None:
        """Replace the job's snapshot; the bytes of a file (or a job) that is done are dropped."""
        with self._changed:
            job = self._jobs[job_id]
            if file is not None:
                index, status = file
                changes["files"] = job.files[:index] + (status,) + job.files[index + 1 :]
                if status.state == "done":
                    self._data[job_id][index] = None
            if changes.get("finished"):
                self._data.pop(job_id, None)
            self._jobs[job_id] = replace(job, **changes)  # type: ignore[arg-type]
            self._changed.notify_all()
