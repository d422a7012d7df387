"""Synthetic training queries for the reranker: questions our local generator writes about pool passages.

``python -m tuning.synthetic --count N [--cache DIR] [--sources DIR] [--generator-backend B]``
only writes the questions into the cache; ``train_reranker --synthetic N`` writes or reuses the same ones
and trains on them.

Design choices:
- Sources: passages of the documentation folders only (library, tutorial, HOWTOs, language reference) of
  at least ``min_chars``, taken in a salted sha256 order of their ids, so ``N=2000`` after ``N=1500``
  reuses the first 1,500 and nothing depends on the pool's order. FAQ passages are never sources: test
  answers never enter the pool (``reranker_data.collect``), dev answers already have their real
  question, and a doc passage whose text is a FAQ test answer (``Collected.faq_test_answers``) is refused
  too. The Debian FAQ and the R manuals are not in the pool at all.
- The passage is shown as the training positive is ("parent sections\\ntext"), so the generator can
  name the module a passage is about.
- The cache is one JSONL row per generator reply, keyed by (sha256 of the passage as prompted, the
  generator's name, ``questions.PROMPT_ID``), appended and flushed as each is written: a killed run
  loses at most the reply under way and a rerun asks only for what is missing. The raw reply is kept
  and cleaned on reading, so a change to the cleaning needs no regeneration. A torn last line is
  skipped, and the next row starts on a line of its own. One writer per file: a second run fails at
  once (flock) instead of interleaving rows.
- A question becomes a ``TrainingQuery`` (source "synthetic") whose only positive is its passage; its
  negatives are mined like those of heading and index queries (own section excluded, top hit skipped).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

from tuning import questions
from tuning.reranker_data import POOL_DIRS, Collected, TrainingQuery, answer_digest

if TYPE_CHECKING:
    from generation.generators import Generator

SALT = "reranker-synthetic-v1:"
CACHE_FILE = "synthetic-questions.jsonl"


class CacheInUse(RuntimeError):
    """Another run is writing replies into the same cache file."""


@dataclass(frozen=True)
class GeneratorInfo:
    """Which local generator wrote the questions, as the data card records it."""

    name: str  # Generator.name, part of the cache key
    backend: str  # "llamacpp" or "transformers"
    model: str  # the model setting (pkg:NAME, an id or a path)
    model_sha256: str = ""  # of a packaged model's weights


@dataclass(frozen=True)
class Synthetic:
    queries: tuple[TrainingQuery, ...]
    counts: dict[str, object]  # the data card's numbers


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_positions(collected: Collected, count: int, min_chars: int = 200) -> list[int]:
    """Up to ``count`` pool positions to write questions for (see the module docstring for the rule)."""
    pool = collected.pool
    usable = [
        i
        for i, p in enumerate(pool)
        if p.section.split("/", 1)[0] in POOL_DIRS
        and len(p.text) >= min_chars
        and answer_digest(p.text) not in collected.faq_test_answers
    ]
    return sorted(usable, key=lambda i: _sha(SALT + pool[i].id))[:count]


class ReplyCache:
    """Generator replies in a JSONL file, keyed by passage, generator and prompt; use as a context manager.

    Example:
        >>> with ReplyCache(Path("cache/synthetic-questions.jsonl"), generator) as cache:  # doctest: +SKIP
        ...     reply = cache.ask("Sorting HOW TO\\nPython lists have a built-in sort() method...")
    """

    def __init__(self, path: Path, generator: Generator) -> None:
        self.path, self.generator = path, generator
        self.hits = self.written = 0
        self.seconds = 0.0  # spent generating, for the rate
        self._ask = questions.asker(generator)
        self._replies: dict[str, str] = {}
        self._out: IO[str] | None = None
        self._lock: IO[str] | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.with_name(self.path.name + ".lock"), "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise CacheInUse(f"another run is writing questions into {self.path}") from None
        # Read once, as bytes: a row torn inside a multi-byte character must not stop the resume.
        text = self.path.read_bytes().decode("utf-8", errors="replace") if self.path.exists() else ""
        self._replies = self._parse(text)
        self._out = open(self.path, "a", encoding="utf-8")
        if text and not text.endswith("\n"):
            self._out.write("\n")  # a run killed mid-row left a torn line: start the next row on its own
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in (self._out, self._lock):
            if handle is not None:
                handle.close()
        self._out = self._lock = None

    def _key(self, passage: str) -> str:
        return f"{_sha(passage)}|{self.generator.name}|{questions.PROMPT_ID}"

    @staticmethod
    def _parse(text: str) -> dict[str, str]:
        replies: dict[str, str] = {}
        for line in text.splitlines():
            try:
                row = json.loads(line)
                replies[f"{row['passage']}|{row['generator']}|{row['prompt']}"] = row["reply"]
            except (ValueError, KeyError, TypeError):  # a torn or foreign line
                continue
        return replies

    def has(self, passage: str) -> bool:
        return self._key(passage) in self._replies

    def ask(self, passage: str, passage_id: str = "") -> str:
        """The cached reply for ``passage``, or the generator's, appended to the file at once."""
        key = self._key(passage)
        if key in self._replies:
            self.hits += 1
            return self._replies[key]
        if self._out is None:
            raise RuntimeError("ReplyCache.ask outside its with block")
        started = time.perf_counter()
        reply = self._ask(passage)
        self.seconds += time.perf_counter() - started
        row = {
            "passage": _sha(passage),
            "generator": self.generator.name,
            "prompt": questions.PROMPT_ID,
            "passage_id": passage_id,
            "reply": reply,
        }
        self._out.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._out.flush()
        self._replies[key] = reply
        self.written += 1
        return reply


def progress_printer(
    cache: ReplyCache, missing: int, every_s: float = 30.0, every_n: int = 50, out: IO[str] = sys.stderr
) -> Callable[[int, int], None]:
    """Prints done/total, the rate of generation and the time left, every ``every_s`` s or ``every_n``."""
    last = [time.perf_counter(), 0]

    def show(done: int, total: int) -> None:
        now = time.perf_counter()
        if done != total and now - last[0] < every_s and done - last[1] < every_n:
            return
        last[:] = [now, done]
        rate = cache.written / cache.seconds if cache.seconds else 0.0
        left = max(0, missing - cache.written)
        eta = f"{left / rate / 60:.0f} min" if rate else "?"
        print(
            f"synthetic questions: {done}/{total} passages ({cache.hits} cached, {cache.written} written), "
            f"{60 * rate:.1f} questions/min, ETA {eta}",
            file=out,
            flush=True,
        )

    return show


def synthetic_queries(
    collected: Collected,
    count: int,
    cache: ReplyCache,
    progress: Callable[[int, int], None] | None = None,
    min_chars: int = 200,
) -> Synthetic:
    """A question for each of ``count`` sampled passages (cached or written now), cleaned, as queries."""
    pool = collected.pool
    positions = source_positions(collected, count, min_chars)
    texts = [pool[i].body for i in positions]
    ids = {pool[i].body: pool[i].id for i in positions}  # pool texts are distinct, so bodies are too

    if progress is None:
        progress = progress_printer(cache, sum(not cache.has(t) for t in texts))
    kept, rejected = questions.write_questions(lambda text: cache.ask(text, ids[text]), texts, progress)
    chosen = tuple(
        TrainingQuery(f"synthetic:{pool[positions[n]].id}", question, "synthetic", (positions[n],))
        for question, n in kept
    )
    return Synthetic(
        chosen,
        {
            "passages": len(positions),
            "questions": len(chosen),
            "rejected": dict(sorted(rejected.items())),
            "cached": cache.hits,
            "written": cache.written,
            "questions_per_minute": round(60 * cache.written / cache.seconds, 1) if cache.seconds else None,
        },
    )


def local_generator(backend: str | None = None) -> tuple[Generator, GeneratorInfo]:
    """The local generator from settings (``backend`` overrides ``ASKDOCS_GENERATOR_BACKEND``)."""
    from askdocs.models import PACKAGED, is_packaged
    from askdocs.settings import load_settings
    from generation.generators import local_generator_from_settings
    from generation.generators.llamacpp import LlamaCppGenerator

    settings = load_settings()
    if backend:
        settings = settings.model_copy(update={"generator_backend": backend})
    generator = local_generator_from_settings(settings)
    spec = settings.generator_model
    packaged = PACKAGED.get(spec.removeprefix("pkg:")) if is_packaged(spec) else None
    return generator, GeneratorInfo(
        generator.name,
        "llamacpp" if isinstance(generator, LlamaCppGenerator) else "transformers",
        spec,
        packaged.sha256 if packaged else "",
    )


def add_generator_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--generator-backend",
        choices=("llamacpp", "transformers", "auto"),
        help="local generator backend (default: ASKDOCS_GENERATOR_BACKEND; llamacpp is the "
        "fast one on CPU); the model is ASKDOCS_GENERATOR_MODEL",
    )


def main(argv: Sequence[str] | None = None) -> int:
    from tuning.reranker_data import collect
    from tuning.train_reranker import DEFAULT_CACHE, find_sources

    parser = argparse.ArgumentParser(prog="python -m tuning.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, required=True, help="passages to write a question for")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"the folder holding {CACHE_FILE}")
    parser.add_argument("--sources", type=Path, help="an extracted _sources tree (default: the cached .deb)")
    add_generator_argument(parser)
    args = parser.parse_args(argv)
    sources, deb = find_sources(args.sources)
    collected = collect(sources)
    generator, info = local_generator(args.generator_backend)
    try:
        with ReplyCache(args.cache / CACHE_FILE, generator) as cache:
            result = synthetic_queries(collected, args.count, cache)
    except CacheInUse as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"source": deb, "generator": asdict(info), **result.counts}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
