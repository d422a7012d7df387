"""The parts the UI shares across every browser session, created once per process.

Streamlit reruns page scripts for every interaction and runs sessions in
threads; models and the store must not be rebuilt per run or per session.
``st.cache_resource`` keeps one of each per process, and each part guards its
own model with a lock (see ``retrieval.batching``, ``generation.generators.base``).
The app process is the single writer of the embedded Chroma folder; the
store's lock makes a second app or CLI writer fail clearly instead. Holding
that lock, and before any job can run, the app checks that the catalogue,
the chunks and BM25 agree and repairs what a crash left behind
(``retrieval.consistency``); the status page shows the result.

The semantic cache and the monitoring recorder are per process too: every session of this
process shares one cache (a replica has its own), and the recorder appends to the monitoring
store in DATA_DIR that the REST API's ``/metrics`` also reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from app.eval_jobs import EvalJobs
from app.feedback import FeedbackStore
from app.monitoring import Recorder
from app.ratelimit import RateLimiter
from askdocs.quiet import quiet_libraries
from askdocs.runtime import Runtime
from askdocs.settings import Settings, load_settings
from generation.generators import Generator
from generation.pipeline import AnswerPipeline
from generation.redaction import stored_text_scrubber
from retrieval.consistency import ConsistencyReport
from retrieval.stores import StoreLocked


@dataclass(frozen=True)
class Services:
    settings: Settings
    runtime: Runtime  # store, models, retriever, ingestor, jobs, cache, generators (askdocs.runtime)
    feedback: FeedbackStore
    index_check: ConsistencyReport | None = None  # the start-up check; None when none ran
    recorder: Recorder | None = None  # None: nothing is recorded (tests that do not look)


@st.cache_resource(show_spinner="Loading the search index and the embedding model (first start only)…")
def services() -> Services:
    quiet_libraries()
    settings = load_settings()
    try:
        runtime = Runtime(settings)
    except StoreLocked as error:  # another app or CLI owns the embedded store: say so, write nothing
        st.error(str(error))
        st.stop()
    index_check = runtime.repair()
    feedback = FeedbackStore(settings.data_dir / "feedback.jsonl", stored_text_scrubber(settings))
    runtime.jobs  # noqa: B018 - the upload queue's thread starts with the app, as before
    return Services(settings, runtime, feedback, index_check, Recorder.from_settings(settings))


@st.cache_resource(
    show_spinner="Loading the local language model (the very first start converts it: ~1–2 min)…"
)
def local_generator() -> Generator:
    return services().runtime.local_generator  # transformers or llama.cpp, by the settings


@st.cache_resource(show_spinner=False)
def api_generator() -> Generator:
    return services().runtime.api_generator


@st.cache_resource(show_spinner=False)
def eval_jobs() -> EvalJobs:
    """The one evaluation thread of this process, shared by every admin session."""
    return EvalJobs()


@st.cache_resource(show_spinner="Loading the fast model for simple questions…")
def fast_generator() -> Generator | None:
    """Routing's fast tier (generation/routing.py); None when ASKDOCS_FAST_GENERATOR_MODEL is not set."""
    return services().runtime.fast_generator


def pipeline(generator: Generator) -> AnswerPipeline:
    """The answer pipeline with ``generator`` as the main (strong) tier, and the fast tier if one is set."""
    return services().runtime.pipeline(generator, fast_generator=fast_generator())


@st.cache_resource(show_spinner=False)
def shared_limiter(per_minute: int) -> RateLimiter:
    """The one question limiter of this process for ``per_minute``, shared by every session."""
    return RateLimiter(per_minute)
