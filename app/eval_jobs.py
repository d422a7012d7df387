"""Evaluation runs started from the app, on a background thread, one at a time.

An evaluation keeps both cores busy for minutes; two at once would each take twice as long
and slow every user's answers down too, so a second start is refused with a clear message
instead of queued. The Evaluate page polls the job's progress; the run itself writes its
folder through ``eval.runner`` exactly as the command line does.
Reranker adaptations (``tuning.adapt``, from the Documents page) run on this thread too, for
the same reason; their ``work`` returns the run folder the same way.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

log = logging.getLogger("askdocs.eval")

Progress = Callable[[str, int, int], None]


class EvaluationBusy(RuntimeError):
    pass


@dataclass(frozen=True)
class EvalJob:
    id: str
    label: str
    started: float
    stage: str = "starting"
    done: int = 0
    total: int = 0
    folder: Path | None = None
    error: str = ""
    finished: bool = False

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class EvalJobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, EvalJob] = {}

    def start(self, label: str, work: Callable[[Progress], Path]) -> str:
        """Run ``work(progress)`` in the background; EvaluationBusy when another evaluation runs."""
        with self._lock:
            running = [j for j in self._jobs.values() if not j.finished]
            if running:
                raise EvaluationBusy(
                    f"another evaluation or adaptation is running ({running[0].label}); wait for it to finish"
                )
            job = EvalJob(uuid.uuid4().hex[:8], label, time.time())
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job.id, work), name=f"eval-{job.id}", daemon=True).start()
        return job.id

    def job(self, job_id: str) -> EvalJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)  # type: ignore[arg-type]

    def _run(self, job_id: str, work: Callable[[Progress], Path]) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            self._update(job_id, stage=stage, done=done, total=total)

        try:
            folder = work(progress)
            self._update(job_id, folder=folder, finished=True, stage="finished")
        except Exception as error:  # noqa: BLE001 - shown on the page; the app keeps serving
            log.warning(
                "evaluation %s failed: %s", job_id, "".join(traceback.format_exception_only(error)).strip()
            )
            self._update(job_id, error=f"{type(error).__name__}: {error}", finished=True, stage="failed")
