"""Ask: a chat whose answers stream in, with checked citations under each one.

The page holds no retrieval or generation logic: it calls the answer pipeline
and renders what comes back. Each browser session keeps its own history in
``st.session_state``; nothing here is shared between sessions but the models
and the rate limiter.

Failures are told, not raised: a document index that cannot be reached, an
API backend that is down (the local model answers instead, under a banner),
an answer cut off mid-stream (kept, with a note) and a user over the rate
limit each get a sentence in the chat, and the conversation is kept.

An answer the semantic cache served says so under it. Every question asked here is recorded for
the Monitor page (``app.monitoring``, route ``ui``): answered, stopped or failed.
"""

from __future__ import annotations

import threading
import time
import uuid

import streamlit as st

from app.ratelimit import limit_key
from app.services import api_generator, local_generator, pipeline, services, shared_limiter
from app.session import current_principal
from askdocs.types import Answer
from generation.generators import GeneratorUnavailable
from generation.pipeline import Turn
from generation.render import citation_heading, safe_markdown, scores_line, timing_line
from retrieval.access import AccessDenied
from retrieval.stores import StoreUnavailable

INDEX_DOWN = "The document index is unreachable; try again shortly. Your conversation is kept."
CACHED = "cached: answered at once from an earlier, similar question over the same documents"

principal = current_principal()
state = st.session_state
state.setdefault("history", [])  # dicts: id, question, answer (Answer), stopped, fallback, error
state.setdefault("limit_id", uuid.uuid4().hex)  # this session's rate-limit key when nothing better is known

st.title("Ask your documents")

try:
    svc = services()  # opens the index: with a Chroma server that is down, nothing can be shown yet
except StoreUnavailable:
    st.error(INDEX_DOWN)
    st.stop()
try:
    readable = [c for c in svc.runtime.store.collections() if svc.runtime.store.policy(c).allows(principal)]
    state.readable = (principal, readable)
except StoreUnavailable:
    # The server went away after start-up: keep the conversation on screen and let questions through
    # to fail one by one (kept in the history), so the next one works as soon as the server is back.
    known = state.get("readable")
    if not known or known[0] != principal:
        st.error(INDEX_DOWN)
        st.stop()
    st.warning(INDEX_DOWN)
    readable = known[1]
with st.sidebar:
    if not readable:
        st.warning("No documents are indexed yet. An admin can add some on the Documents page.")
        st.stop()
    default = svc.settings.default_collection
    collection = st.selectbox(
        "Collection", readable, index=readable.index(default) if default in readable else 0
    )
    backends = ["Local model", "API"]
    backend = st.radio("Generator", backends, index=1 if svc.settings.generator_backend == "openai" else 0)
    if st.button("New conversation"):
        state.history = []
        st.rerun()


def render_sources(answer: Answer, turn_id: str) -> None:
    if answer.unsupported_sentences:
        quoted = " ".join(f"“{s}”" for s in answer.unsupported_sentences)
        st.warning(
            "No retrieved source supports: " + safe_markdown(quoted)
        )  # the model's words: never markup
    if not answer.citations:
        return
    with st.expander(f"Sources ({len(answer.citations)})", expanded=True):
        for citation in answer.citations:
            hit = answer.sources[citation.number - 1]
            st.markdown(f"**{citation_heading(citation)}**")
            st.markdown(f"> {safe_markdown(citation.snippet)}")
            st.caption(f"scores: {scores_line(hit)}")
            if st.toggle("Show the page in context", key=f"ctx-{turn_id}-{citation.number}"):
                try:
                    page = svc.runtime.store.chunks_on_page(
                        hit.chunk.collection, hit.chunk.doc_id, citation.page_start
                    )
                except StoreUnavailable:
                    st.caption(INDEX_DOWN)
                    continue
                st.text("\n\n".join(c.text for c in page) or "(the page is no longer in the index)")


def render_feedback(turn: dict) -> None:
    rating = st.feedback("thumbs", key=f"fb-{turn['id']}")
    if rating is None:
        return
    comment = st.text_input("Comment (optional)", key=f"fbc-{turn['id']}")
    if turn.get("rated") != (rating, comment):
        answer: Answer = turn["answer"]
        svc.feedback.add(
            turn["id"], answer.question, answer.text, "up" if rating == 1 else "down", comment, principal.name
        )
        turn["rated"] = (rating, comment)
        st.toast("Thanks for the feedback.")


def render_turn(turn: dict) -> None:
    with st.chat_message("user"):
        st.markdown(safe_markdown(turn["question"]))
    with st.chat_message("assistant"):
        if turn.get("fallback"):
            st.warning(turn["fallback"])
        if turn.get("error"):
            st.error(turn["error"])
            return
        answer: Answer | None = turn.get("answer")
        if answer is None:
            st.markdown(safe_markdown(turn.get("partial", "")) + "\n\n*(stopped)*")
            return
        st.markdown(safe_markdown(answer.text) + ("\n\n*(stopped)*" if turn.get("stopped") else ""))
        if answer.incomplete:
            st.warning(f"The answer was cut off: {answer.incomplete_reason}. What arrived is kept above.")
        if answer.cached:
            st.caption(CACHED)
        if answer.query != answer.question:
            st.caption(f"searched for: {answer.query}")
        st.caption(timing_line(answer))
        render_sources(answer, turn["id"])
        render_feedback(turn)


def record(turn: dict, answer: Answer | None = None, kind: str = "", outcome: str = "error") -> None:
    """One monitoring record for this question (nothing when the app runs without a recorder)."""
    if svc.recorder is None:
        return
    if answer is not None:
        svc.recorder.record_answer(answer, "ui", collection)
    else:
        svc.recorder.record_error(
            "ui",
            collection,
            kind,
            time.time() - turn.get("started", time.time()),
            turn["question"],
            outcome=outcome,
        )


# A run stopped by the stop button leaves its partial answer here; keep it in the history.
if "pending" in state:
    pending = state.pop("pending")
    pending["stop"].set()
    record(pending, outcome="stopped")
    state.history.append({**{k: v for k, v in pending.items() if k != "stop"}, "stopped": True})

for turn in state.history:
    render_turn(turn)


def over_the_limit(question: str) -> bool:
    """Count this question against its asker's budget; refuse it politely, before any model work."""
    address = getattr(st.context, "ip_address", None)  # None without a browser (and a mock in AppTest)
    key = limit_key(principal, address if isinstance(address, str) else None, state.limit_id)
    decision = shared_limiter(svc.settings.rate_limit_per_minute).check(key)
    if decision.allowed:
        return False
    with st.chat_message("user"):
        st.markdown(safe_markdown(question))
    with st.chat_message("assistant"):
        st.warning(decision.message)
    return True


def record_failure(turn: dict, message: str, kind: str) -> None:
    """Keep the question in the history with what went wrong, so nothing typed is lost."""
    record(turn, kind=kind)
    state.pop("pending", None)
    turn.pop("stop", None)
    state.history.append({**turn, "error": message})
    st.rerun()


question = st.chat_input("Ask a question about the documents", submit_mode="stop")
if question and not over_the_limit(question):
    turn = {
        "id": uuid.uuid4().hex,
        "question": question,
        "partial": "",
        "stop": threading.Event(),
        "started": time.time(),
    }
    state.pending = turn
    with st.chat_message("user"):
        st.markdown(safe_markdown(question))
    with st.chat_message("assistant"):
        history = [Turn(t["question"], t["answer"].text) for t in state.history if t.get("answer")]
        generator = local_generator() if backend == "Local model" else api_generator()
        started = time.perf_counter()
        first_token = st.empty()
        result: list[Answer] = []

        def pieces(gen):  # noqa: ANN001, ANN202 - a Generator backend; yields text
            # A backend failing mid-answer ends the stream with an incomplete Answer (the pipeline
            # keeps the partial text); one failing before its first piece raises, handled below.
            events = pipeline(gen).stream(
                question, collection, history, stop=turn["stop"], principal=principal
            )
            for event in events:
                if isinstance(event, Answer):
                    result.append(event)
                    continue
                if not turn["partial"]:
                    first_token.caption(f"first token after {time.perf_counter() - started:.1f} s")
                turn["partial"] += event
                yield event

        try:
            with st.spinner("Searching and reading the sources…"):
                stream = pieces(generator)
                first = next(stream, None)
        except AccessDenied as denied:
            record(turn, kind="access")
            state.pop("pending", None)
            st.error(str(denied))
            st.stop()
        except StoreUnavailable:
            record_failure(turn, INDEX_DOWN, "index")
        except GeneratorUnavailable as down:
            if backend == "Local model":
                record_failure(turn, f"The local model failed before answering ({down}).", "generator")
            turn["fallback"] = (
                f"The API backend is not answering ({down}); this answer comes from the local model."
            )
            st.warning(turn["fallback"])
            generator = local_generator()
            try:
                stream = pieces(generator)
                first = next(stream, None)
            except (StoreUnavailable, GeneratorUnavailable) as error:
                failed_too = f"The local model failed too ({error})."
                down_part = "index" if isinstance(error, StoreUnavailable) else "generator"
                record_failure(turn, INDEX_DOWN if down_part == "index" else failed_too, down_part)

        def chained(first: str | None, rest):  # noqa: ANN001, ANN202
            if first is not None:
                yield first
            yield from rest

        try:
            st.write_stream(chained(first, stream))
        finally:
            # The stop button ends this run with an exception inside write_stream; end the
            # generation now rather than whenever the abandoned stream is garbage-collected.
            turn["stop"].set()
    state.pop("pending", None)
    turn.pop("stop")
    if result:
        record(turn, result[0])
    state.history.append({**turn, "answer": result[0]} if result else turn)
    st.rerun()
