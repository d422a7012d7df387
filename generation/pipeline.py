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
from collections import abc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from askdocs.settings import Settings
from askdocs.types import Answer, Citation, Principal, RetrievedChunk
from generation.cache import CacheScope, SemanticCache, served_from_cache
from generation.citations import check_citations
from generation.generators import Generator, GeneratorUnavailable
from generation.prompt import NOT_FOUND, SYSTEM_PROMPT, Prompt, build_prompt
from generation.redaction import TextFilter, answer_filters, apply_filters, filtered_stream
from generation.routing import classify
from generation.safety import check_output, guard_stream
from retrieval.bm25 import tokenize
from retrieval.hybrid import Retrieval, Retriever

if TYPE_CHECKING:
    import numpy as np

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


@dataclass
class _Run:
    """One question on its way through :meth:`AnswerPipeline.stream`: what each stage hands the next."""

    question: str
    query: str  # what is searched: the question, or it with the previous one (``standalone_query``)
    collection: str
    doc_ids: Sequence[str] | None
    stop: threading.Event | None
    principal: Principal | None
    started: float
    looked_up: float = 0.0  # seconds from ``started`` to the end of the cache lookup
    cache_slot: tuple[np.ndarray, CacheScope] | None = None  # (vector, scope) to store the answer under
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Tier:
    """The generator answering, and why: ``name`` and ``reason`` stay "" without a fast tier."""

    generator: Generator
    name: str
    reason: str
    max_tokens: int


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
        run = self._resolve_query(question, collection, history, doc_ids, stop, principal)
        cached = self._cached_answer(run)
        if cached is not None:
            yield cached.text
            yield cached
            return
        retrieval = self._retrieve(run)
        if not self._confident(retrieval):
            yield from self._abstain(run, retrieval)
            return
        tier = self._choose_tier(question)
        prompt = self._build_prompt(run, retrieval, tier)
        pieces: list[str] = []  # the model's own text, as it came
        cut_off = yield from self._generate(run, tier, prompt, pieces)
        answer = self._check_and_assemble(run, tier, prompt, "".join(pieces), cut_off)
        self._store_in_cache(run, answer)
        yield answer

    def _resolve_query(
        self,
        question: str,
        collection: str | None,
        history: Sequence[Turn],
        doc_ids: Sequence[str] | None,
        stop: threading.Event | None,
        principal: Principal | None,
    ) -> _Run:
        """Start the clock and settle what to search with, and where."""
        started = time.perf_counter()
        query = standalone_query(question, history)
        return _Run(
            question, query, collection or self.settings.default_collection, doc_ids, stop, principal, started
        )

    def _cached_answer(self, run: _Run) -> Answer | None:
        """The cached answer to a question close to this one, if any; else where to store this one."""
        if self.cache is None or run.query != run.question.strip():  # else the search leaned on the history
            return None
        vector = self.cache.embed(run.question)
        scope = self.cache.scope(
            run.collection, run.doc_ids, self.generators_name, self._reranker_name(run.collection)
        )
        found = self.cache.lookup(vector, scope, run.principal)
        if found is not None:
            return served_from_cache(found[0], run.question, time.perf_counter() - run.started)
        run.cache_slot = (vector, scope)
        return None

    def _retrieve(self, run: _Run) -> Retrieval:
        run.looked_up = time.perf_counter() - run.started
        retrieval = self.retriever.retrieve(
            run.query, run.collection, doc_ids=run.doc_ids, principal=run.principal
        )
        run.timings = {f"retrieve_{k}": v for k, v in retrieval.timings.items()}
        if run.cache_slot is not None:
            run.timings["cache_lookup"] = run.looked_up
        run.timings["retrieve"] = time.perf_counter() - run.started - run.looked_up
        return retrieval

    def _confident(self, retrieval: Retrieval) -> bool:
        """Whether anything found is close enough to answer from, by meaning or by keywords."""
        s = self.settings
        return bool(retrieval.hits) and (
            retrieval.best_dense_similarity is None
            or retrieval.best_dense_similarity >= s.abstain_below
            or (retrieval.keyword_coverage or 0.0) >= s.answer_keyword_coverage
        )

    def _abstain(self, run: _Run, retrieval: Retrieval) -> Iterator[str | Answer]:
        yield NOT_FOUND
        run.timings["total"] = time.perf_counter() - run.started
        yield Answer(
            run.question, run.query, NOT_FOUND, (), retrieval.hits, True, (), run.timings, 0, 0, "none"
        )

    def _choose_tier(self, question: str) -> _Tier:
        """The generator to answer with: the only one, or the tier routing picks."""
        s = self.settings
        if self.fast_generator is None:
            return _Tier(self.generator, "", "", s.max_answer_tokens)
        decision = classify(question, s.route_long_words)
        if decision.tier == "fast":
            max_tokens = min(s.max_answer_tokens, s.fast_max_answer_tokens)
            return _Tier(self.fast_generator, decision.tier, decision.reason, max_tokens)
        return _Tier(self.generator, decision.tier, decision.reason, s.max_answer_tokens)

    def _build_prompt(self, run: _Run, retrieval: Retrieval, tier: _Tier) -> Prompt:
        gen = tier.generator
        budget = min(gen.context_window - tier.max_tokens, self.settings.max_prompt_tokens)
        prompt = self.prompt_builder(run.question, retrieval.hits, gen.count_tokens, budget)
        run.timings["prompt"] = time.perf_counter() - run.started - run.looked_up - run.timings["retrieve"]
        return prompt

    def _generate(
        self, run: _Run, tier: _Tier, prompt: Prompt, pieces: list[str]
    ) -> abc.Generator[str, None, str]:
        """Stream the shown (checked, filtered) pieces; the model's own text goes to ``pieces``.

        Returns why the answer was cut off ("" when it was not).
        """
        started = time.perf_counter()
        cut_off = ""
        shown = 0
        try:
            streamed = _recorded(
                tier.generator.stream(prompt.messages, tier.max_tokens, self.settings.temperature, run.stop),
                pieces,
            )
            shown_pieces = guard_stream(streamed) if self.output_checks else streamed
            if self.text_filters:
                shown_pieces = filtered_stream(shown_pieces, self.text_filters)
            for piece in shown_pieces:
                run.timings.setdefault("first_token", time.perf_counter() - run.started)
                shown += 1
                yield piece
        except GeneratorUnavailable as error:
            if not shown:
                raise  # nothing shown yet: the caller may still ask another backend
            # The user has read part of an answer: keep it, checked like any other, and say it is cut.
            log.warning("generation broke off after %d pieces: %s", len(pieces), error)
            cut_off = CUT_OFF
        run.timings["generate"] = time.perf_counter() - started
        return cut_off

    def _check_and_assemble(self, run: _Run, tier: _Tier, prompt: Prompt, raw: str, cut_off: str) -> Answer:
        """Check the model's text and its citations against the passages, and build the :class:`Answer`."""
        gen = tier.generator
        passages = [h.chunk.text for h in prompt.sources]
        if self.output_checks:  # before the citation check, so what it removes is not cited either
            raw = check_output(raw, passages, SYSTEM_PROMPT, keep=NOT_FOUND).text
        raw = apply_filters(raw, self.text_filters)
        checked = check_citations(raw, passages)
        citations = tuple(
            _citation(n, prompt.sources[n - 1], checked.text, self.text_filters) for n in checked.cited
        )
        run.timings["total"] = time.perf_counter() - run.started
        return Answer(
            question=run.question,
            query=run.query,
            text=checked.text,
            citations=citations,
            sources=prompt.sources,
            abstained=checked.abstained or not raw.strip(),
            unsupported_sentences=checked.unsupported,
            timings=run.timings,
            prompt_tokens=gen.prompt_tokens(prompt.messages),
            completion_tokens=gen.count_tokens(raw) if raw else 0,
            backend=gen.name,
            incomplete=bool(cut_off),
            incomplete_reason=cut_off,
            tier=tier.name,
            tier_reason=tier.reason,
        )

    def _store_in_cache(self, run: _Run, answer: Answer) -> None:
        """Keep a complete answer the user did not stop, for questions close to this one."""
        stopped = run.stop is not None and run.stop.is_set()
        if run.cache_slot is not None and not answer.incomplete and not stopped:
            self.cache.store(*run.cache_slot, answer)  # type: ignore[union-attr]

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
