"""From a question to a checked, cited answer.

question (+history) -> standalone query -> retrieve -> abstain if nothing is
close enough -> prompt within the token budget -> stream the answer -> check
its citations -> one :class:`Answer` with sources, timings and token counts.

With a ``fast_generator``, each question the model must answer is routed (``generation.routing``):
simple ones to the fast generator, hard ones to ``generator``; the answer says which and why.

With a :class:`~generation.cache.SemanticCache`, a question close to one already answered in the
same scope is answered from it before any search. Only answers that depend on the question alone
are cached: never a follow-up whose search leaned on the history, an incomplete answer, one the
user stopped, or an abstention decided before the model (it costs a search, nothing more).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from askdocs.settings import Settings
from askdocs.types import Answer, Citation, Principal, RetrievedChunk
from generation.cache import SemanticCache, served_from_cache
from generation.citations import check_citations
from generation.generators import Generator, GeneratorUnavailable
from generation.prompt import NOT_FOUND, SYSTEM_PROMPT, Prompt, build_prompt
from generation.redaction import TextFilter, answer_filters, apply_filters, filtered_stream
from generation.routing import classify
from generation.safety import check_output, guard_stream
from retrieval.bm25 import tokenize
from retrieval.hybrid import Retriever

_FOLLOW_UP = re.compile(
    r"\b(it|its|that|this|those|these|they|them|their|he|she|one|ones|above|previous)\b", re.I
)
SNIPPET_CHARS = 300
CUT_OFF = "the model server stopped responding"  # shown to users; the technical cause goes to the log
log = logging.getLogger("askdocs.generation")


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


def standalone_query(question: str, history: Sequence[Turn]) -> str:
    """The text to search with: the question, plus the previous one when this one leans on it.

    A rule, not a model call: it is instant and predictable, and the UI shows the query it searched.
    """
    if not history:
        return question.strip()
    short = len(question.split()) <= 12
    if short and _FOLLOW_UP.search(question):
        return f"{history[-1].question.strip()} {question.strip()}"
    return question.strip()


def quote(passage: str, answer: str) -> str:
    """The sentence of ``passage`` sharing most words with ``answer``, with context up to ~300 characters."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(passage.split())) if s]
    if not sentences:
        return ""
    wanted = set(tokenize(answer))
    best = max(range(len(sentences)), key=lambda i: len(wanted & set(tokenize(sentences[i]))))
    text = sentences[best]
    after = best + 1
    while after < len(sentences) and len(text) + len(sentences[after]) < SNIPPET_CHARS:
        text = f"{text} {sentences[after]}"
        after += 1
    if len(text) > SNIPPET_CHARS:
        text = text[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return text


class AnswerPipeline:
    """Answers questions over one store with one generator, or two tiers of them.

    Example:
        >>> pipeline = AnswerPipeline(retriever, generator, settings)  # doctest: +SKIP
        >>> pipeline.ask("What does list.sort() return?").citations[0].source  # doctest: +SKIP
        'python_sorting_howto.pdf'
    """

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        settings: Settings,
        cache: SemanticCache | None = None,
        *,
        prompt_builder: Callable[..., Prompt] = build_prompt,
        output_checks: bool = True,
        text_filters: Sequence[TextFilter] | None = None,
        fast_generator: Generator | None = None,
    ) -> None:
        self.retriever = retriever
        self.generator = generator  # the strong tier when there is a fast one
        self.fast_generator = fast_generator
        self.settings = settings
        # Both exist so ``python -m eval.attacks`` can measure the app without its defences; the app
        # itself never changes them.
        self.prompt_builder = prompt_builder
        self.output_checks = output_checks
        # PII redaction and the operator's content filter, as the settings ask (generation/redaction.py).
        self.text_filters = tuple(answer_filters(settings) if text_filters is None else text_filters)
        self.cache = cache

    def stream(
        self,
        question: str,
        collection: str | None = None,
        history: Sequence[Turn] = (),
        doc_ids: Sequence[str] | None = None,
        stop: threading.Event | None = None,
        principal: Principal | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text pieces as they come, then the final :class:`Answer`.

        A backend failing before its first piece raises :class:`GeneratorUnavailable`; one failing
        after it ends the answer there, as an ``incomplete`` :class:`Answer`.
        """
        if not question.strip():
            raise ValueError("the question is empty")
        s = self.settings
        started = time.perf_counter()
        query = standalone_query(question, history)
        collection = collection or s.default_collection
        cache_slot = None
        if self.cache is not None and query == question.strip():  # else the search leaned on the history
            vector = self.cache.embed(question)
            scope = self.cache.scope(
                collection, doc_ids, self.generators_name, self._reranker_name(collection)
            )
            found = self.cache.lookup(vector, scope, principal)
            if found is not None:
                answer = served_from_cache(found[0], question, time.perf_counter() - started)
                yield answer.text
                yield answer
                return
            cache_slot = (vector, scope)
        looked_up = time.perf_counter() - started
        retrieval = self.retriever.retrieve(query, collection, doc_ids=doc_ids, principal=principal)
        timings = {f"retrieve_{k}": v for k, v in retrieval.timings.items()}
        if cache_slot is not None:
            timings["cache_lookup"] = looked_up
        timings["retrieve"] = time.perf_counter() - started - looked_up
        confident = bool(retrieval.hits) and (
            retrieval.best_dense_similarity is None
            or retrieval.best_dense_similarity >= s.abstain_below
            or (retrieval.keyword_coverage or 0.0) >= s.answer_keyword_coverage
        )
        if not confident:
            yield NOT_FOUND
            timings["total"] = time.perf_counter() - started
            yield Answer(question, query, NOT_FOUND, (), retrieval.hits, True, (), timings, 0, 0, "none")
            return

        gen, tier, tier_reason, max_tokens = self.generator, "", "", s.max_answer_tokens
        if self.fast_generator is not None:
            decision = classify(question, s.route_long_words)
            tier, tier_reason = decision.tier, decision.reason
            if decision.tier == "fast":
                gen, max_tokens = self.fast_generator, min(max_tokens, s.fast_max_answer_tokens)
        budget = min(gen.context_window - max_tokens, s.max_prompt_tokens)
        prompt = self.prompt_builder(question, retrieval.hits, gen.count_tokens, budget)
        timings["prompt"] = time.perf_counter() - started - looked_up - timings["retrieve"]
        pieces: list[str] = []
        generate_started = time.perf_counter()
        cut_off = ""
        shown = 0
        try:
            streamed = _recorded(gen.stream(prompt.messages, max_tokens, s.temperature, stop), pieces)
            shown_pieces = guard_stream(streamed) if self.output_checks else streamed
            if self.text_filters:
                shown_pieces = filtered_stream(shown_pieces, self.text_filters)
            for piece in shown_pieces:
                timings.setdefault("first_token", time.perf_counter() - started)
                shown += 1
                yield piece
        except GeneratorUnavailable as error:
            if not shown:
                raise  # nothing shown yet: the caller may still ask another backend
            # The user has read part of an answer: keep it, checked like any other, and say it is cut.
            log.warning("generation broke off after %d pieces: %s", len(pieces), error)
            cut_off = CUT_OFF
        timings["generate"] = time.perf_counter() - generate_started
        raw = "".join(pieces)
        passages = [h.chunk.text for h in prompt.sources]
        if self.output_checks:  # before the citation check, so what it removes is not cited either
            raw = check_output(raw, passages, SYSTEM_PROMPT, keep=NOT_FOUND).text
        raw = apply_filters(raw, self.text_filters)
        checked = check_citations(raw, passages)
        citations = tuple(
            _citation(n, prompt.sources[n - 1], checked.text, self.text_filters) for n in checked.cited
        )
        timings["total"] = time.perf_counter() - started
        answer = Answer(
            question=question,
            query=query,
            text=checked.text,
            citations=citations,
            sources=prompt.sources,
            abstained=checked.abstained or not raw.strip(),
            unsupported_sentences=checked.unsupported,
            timings=timings,
            prompt_tokens=gen.prompt_tokens(prompt.messages),
            completion_tokens=gen.count_tokens(raw) if raw else 0,
            backend=gen.name,
            incomplete=bool(cut_off),
            incomplete_reason=cut_off,
            tier=tier,
            tier_reason=tier_reason,
        )
        if cache_slot is not None and not answer.incomplete and not (stop is not None and stop.is_set()):
            self.cache.store(*cache_slot, answer)  # type: ignore[union-attr]
        yield answer

    def _reranker_name(self, collection: str) -> str:
        """The reranker ordering ``collection``'s passages now, for the cache's scope ("" for none)."""
        pick = getattr(self.retriever, "reranker_for", None)  # a retriever without rerankers has none
        reranker = pick(collection) if pick else None
        return "" if reranker is None else str(getattr(reranker, "spec", type(reranker).__name__))

    @property
    def generators_name(self) -> str:
        """What the cache's scope keys on: the generator, or both tiers and the routing rule."""
        if self.fast_generator is None:
            return self.generator.name
        s = self.settings
        return (
            f"fast={self.fast_generator.name} strong={self.generator.name} long={s.route_long_words} "
            f"fast_max={s.fast_max_answer_tokens}"
        )

    def ask(self, question: str, **kwargs: object) -> Answer:
        """The final answer without streaming."""
        for event in self.stream(question, **kwargs):  # type: ignore[arg-type]
            if isinstance(event, Answer):
                return event
        raise RuntimeError("the pipeline ended without an answer")  # unreachable unless stream() is broken


def _recorded(pieces: Iterator[str], into: list[str]) -> Iterator[str]:
    """``pieces`` unchanged, each also kept in ``into``: the checks need the model's own text."""
    for piece in pieces:
        into.append(piece)
        yield piece


def _citation(number: int, hit: RetrievedChunk, answer: str, filters: Sequence[TextFilter] = ()) -> Citation:
    c = hit.chunk
    snippet = apply_filters(quote(c.text, answer), filters)  # shown under the answer: filtered like it
    return Citation(number, c.chunk_id, c.source, c.page_start, c.page_end, snippet)
