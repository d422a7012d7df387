"""Ask: a chat whose answers stream in, with checked citations under each one.

The page holds no retrieval or generation logic: it calls the answer pipeline
and renders what comes back. Each browser session keeps its own history in
``st.session_state``; nothing here is shared between sessions but the models.
"""

from __future__ import annotations

import threading
import time
import uuid

import streamlit as st

from app.render import citation_heading, safe_markdown, scores_line, timing_line
from app.services import api_generator, local_generator, pipeline, services
from app.session import current_principal
from askdocs.types import Answer
from generation.backends import GeneratorUnavailable
from generation.pipeline import Turn
from retrieval.access import AccessDenied

principal = current_principal()
svc = services()
state = st.session_state
state.setdefault("history", [])  # dicts: id, question, answer (Answer), stopped, fallback

st.title("Ask your documents")

readable = [c for c in svc.stack.store.collections() if svc.stack.store.policy(c).allows(principal)]
with st.sidebar:
    if not readable:
        st.warning("No documents are indexed yet. An admin can add some on the Documents page.")
        st.stop()
    default = svc.settings.default_collection
    collection = st.selectbox("Collection", readable, index=readable.index(default) if default in readable else 0)
    backends = ["Local model", "API"]
    backend = st.radio("Generator", backends, index=1 if svc.settings.generator_backend == "openai" else 0)
    if st.button("New conversation"):
        state.history = []
        st.rerun()


def render_sources(answer: Answer, turn_id: str) -> None:
    if answer.unsupported_sentences:
        st.warning("No retrieved source supports: " + " ".join(f"“{s}”" for s in answer.unsupported_sentences))
    if not answer.citations:
        return
    with st.expander(f"Sources ({len(answer.citations)})", expanded=True):
        for citation in answer.citations:
            hit = answer.sources[citation.number - 1]
            st.markdown(f"**{citation_heading(citation)}**")
            st.markdown(f"> {safe_markdown(citation.snippet)}")
            st.caption(f"scores: {scores_line(hit)}")
            if st.toggle("Show the page in context", key=f"ctx-{turn_id}-{citation.number}"):
                page = svc.stack.store.chunks_on_page(hit.chunk.collection, hit.chunk.doc_id, citation.page_start)
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
        answer: Answer | None = turn.get("answer")
        if answer is None:
            st.markdown(safe_markdown(turn.get("partial", "")) + "\n\n*(stopped)*")
            return
        st.markdown(safe_markdown(answer.text) + ("\n\n*(stopped)*" if turn.get("stopped") else ""))
        if answer.query != answer.question:
            st.caption(f"searched for: {answer.query}")
        st.caption(timing_line(answer))
        render_sources(answer, turn["id"])
        render_feedback(turn)


# A run stopped by the stop button leaves its partial answer here; keep it in the history.
if "pending" in state:
    pending = state.pop("pending")
    pending["stop"].set()
    state.history.append({**{k: v for k, v in pending.items() if k != "stop"}, "stopped": True})

for turn in state.history:
    render_turn(turn)

question = st.chat_input("Ask a question about the documents", submit_mode="stop")
if question:
    turn = {"id": uuid.uuid4().hex, "question": question, "partial": "", "stop": threading.Event()}
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
            events = pipeline(gen).stream(question, collection, history, stop=turn["stop"], principal=principal)
            try:
                for event in events:
                    if isinstance(event, Answer):
                        result.append(event)
                        continue
                    if not turn["partial"]:
                        first_token.caption(f"first token after {time.perf_counter() - started:.1f} s")
                    turn["partial"] += event
                    yield event
            except GeneratorUnavailable:
                if not turn["partial"]:
                    raise  # nothing shown yet: the caller falls back to the local model
                turn["partial"] += "\n\n*(the answer broke off: the generator stopped responding)*"
                yield "\n\n*(the answer broke off: the generator stopped responding)*"

        try:
            with st.spinner("Searching and reading the sources…"):
                stream = pieces(generator)
                first = next(stream, None)
        except AccessDenied as denied:
            state.pop("pending", None)
            st.error(str(denied))
            st.stop()
        except GeneratorUnavailable as down:
            turn["fallback"] = f"The API backend is not answering ({down}); this answer comes from the local model."
            st.warning(turn["fallback"])
            generator = local_generator()
            stream = pieces(generator)
            first = next(stream, None)

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
    state.history.append({**turn, "answer": result[0]} if result else turn)
    st.rerun()
