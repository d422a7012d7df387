"""Load benchmark: many browser sessions asking questions of one app process at once.

    python -m bench.load [--sessions 10] [--minutes 3] [--max-answer-tokens 96] [--out bench/out/load.json]

Starts the real app (``streamlit run``) on a throwaway data folder holding ``sample_docs``, warms it
up with one question (the first one loads the generator), then opens ``--sessions`` headless chromium
contexts (each a Streamlit session) that ask the sample questions in a loop until the time is up
(every session finishes the question it is on). Each question carries a tag naming its session
(``[ref S03Q02]``), so a session that shows another's tag has leaked. Measured per question, in the
browser: time to first answer text (from pressing Enter to the first text in the new answer) and to
the finished answer; the app's resident memory every 2 s; errors shown on the page
(``stException``) and tracebacks in the server log.

The generator is one model behind a lock, so on CPU the questions queue: time to first token
under load is mostly waiting for the other sessions' answers, and grows with the number of
sessions. That is the honest number for one process on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.machine import cpu_line
from bench import webapp
from bench.webapp import CHROMIUM, CHROMIUM_ARGS, PLACEHOLDER

QUESTIONS = webapp.ROOT / "sample_docs" / "questions.jsonl"
TAG = re.compile(r"\[ref S(\d+)Q\d+\]")

# Installed before each question: notes when the newest assistant message first shows answer text
# (outside the sources, banners and spinners). performance.now() on both ends, so the clock is the page's.
_WATCH_FIRST_TEXT = """(expected) => {
  window.__askdocsSent = performance.now();
  window.__askdocsFirst = null;
  const read = () => {
    const messages = document.querySelectorAll('[data-testid="stChatMessage"]');
    if (messages.length !== expected || window.__askdocsFirst !== null) return;
    const last = messages[messages.length - 1];
    if (!last.querySelector('[data-testid="stChatMessageAvatarAssistant"]')) return;
    const body = [...last.querySelectorAll('[data-testid="stMarkdownContainer"]')].find(
      (e) => !e.closest('[data-testid="stExpander"], [data-testid="stAlert"], [data-testid="stSpinner"]'));
    if (body && body.innerText.trim()) window.__askdocsFirst = performance.now();
  };
  if (window.__askdocsWatch) window.__askdocsWatch.disconnect();
  window.__askdocsWatch = new MutationObserver(read);
  window.__askdocsWatch.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@dataclass(frozen=True)
class TurnResult:
    session: int
    question: str
    first_text_s: float | None  # None: the answer never showed text before it finished
    total_s: float
    error: str = ""


@dataclass(frozen=True)
class LoadReport:
    sessions: int
    seconds: float
    turns: tuple[TurnResult, ...]
    leaks: tuple[str, ...]  # "session 3 shows S05's question", ...
    page_errors: tuple[str, ...]
    log_errors: tuple[str, ...]
    rss_mb: tuple[float, ...]  # every 2 s
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        first = [t.first_text_s for t in self.turns if t.first_text_s is not None]
        total = [t.total_s for t in self.turns if not t.error]
        rss = self.rss_mb or (0.0,)
        quarter = max(1, len(rss) // 4)
        return {
            "sessions": self.sessions,
            "minutes": round(self.seconds / 60, 2),
            "questions answered": len(total),
            "failed questions": sum(bool(t.error) for t in self.turns),
            "ttft p50 s": _percentile(first, 50),
            "ttft p95 s": _percentile(first, 95),
            "answer p50 s": _percentile(total, 50),
            "answer p95 s": _percentile(total, 95),
            "answers per minute": round(len(total) / (self.seconds / 60), 2) if self.seconds else 0.0,
            "rss start MB": round(rss[0]),
            "rss peak MB": round(max(rss)),
            "rss growth first->last quarter MB": round(max(rss[-quarter:]) - max(rss[:quarter])),
            "cross-session leaks": len(self.leaks),
            "page errors": len(self.page_errors),
            "server log errors": len(self.log_errors),
        }


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def sample_questions() -> list[str]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


async def _ask(page, question: str, turn: int, timeout_ms: float) -> tuple[float | None, float]:  # noqa: ANN001
    """Ask ``question`` as the session's ``turn``-th question; returns (first text, finished) in seconds."""
    from playwright.async_api import expect

    messages = page.get_by_test_id("stChatMessage")
    box = page.get_by_placeholder(PLACEHOLDER)
    await expect(box).to_be_enabled(timeout=timeout_ms)
    await box.fill(question)
    await page.evaluate(_WATCH_FIRST_TEXT, 2 * turn)
    sent = time.perf_counter()
    await box.press("Enter")
    await expect(messages).to_have_count(2 * turn, timeout=timeout_ms)
    answer = messages.nth(2 * turn - 1)
    # The finished turn is redrawn from the history with its timing line ("… total 12.34 s …").
    timing = answer.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"total \d+\.\d+ s"))
    await expect(timing).to_be_visible(timeout=timeout_ms)
    total = time.perf_counter() - sent
    marks = await page.evaluate("() => [window.__askdocsSent, window.__askdocsFirst]")
    first = (marks[1] - marks[0]) / 1000 if marks[1] is not None else None
    return first, total


async def _leaks(page, session: int, asked: list[str]) -> list[str]:  # noqa: ANN001
    """What this session shows that it should not: other sessions' tags, or a history not its own."""
    problems = []
    text = await page.get_by_role("main").inner_text()
    others = sorted({int(s) for s in TAG.findall(text)} - {session})
    if others:
        problems.append(f"session {session} shows questions of sessions {others}")
    users = page.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stChatMessageAvatarUser"))
    shown = [t.strip() for t in await users.all_inner_texts()]
    if len(shown) != len(asked) or any(q not in s for q, s in zip(asked, shown)):
        problems.append(f"session {session} history {shown!r} is not its questions {asked!r}")
    return problems


async def _session(
    browser,
    url: str,
    session: int,
    questions: list[str],
    deadline: float,  # noqa: ANN001
    timeout_ms: float,
    turns: list[TurnResult],
    leaks: list[str],
    page_errors: list[str],
) -> None:
    from playwright.async_api import Error as PlaywrightError

    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = await context.new_page()
        await page.goto(url, wait_until="domcontentloaded")
        asked: list[str] = []
        while not asked or time.perf_counter() < deadline:  # every session asks at least once
            turn = len(asked) + 1
            question = f"{questions[(session + turn) % len(questions)]} [ref S{session:02d}Q{turn:02d}]"
            started = time.perf_counter()
            try:
                first, total = await _ask(page, question, turn, timeout_ms)
                turns.append(TurnResult(session, question, first, total))
            except (PlaywrightError, AssertionError) as error:
                turns.append(
                    TurnResult(
                        session,
                        question,
                        None,
                        time.perf_counter() - started,
                        f"{type(error).__name__}: {str(error).splitlines()[0]}",
                    )
                )
                break  # the page's state is unknown now; the rest of this session would measure nothing
            asked.append(question)
            leaks.extend(await _leaks(page, session, asked))
        for text in await page.get_by_test_id("stException").all_inner_texts():
            page_errors.append(f"session {session}: {text[:300]}")
    finally:
        await context.close()


async def _sample_rss(app: webapp.RunningApp, into: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        into.append(app.rss_bytes() / 2**20)
        try:
            await asyncio.wait_for(stop.wait(), timeout=2.0)
        except TimeoutError:
            pass


async def _drive(app: webapp.RunningApp, sessions: int, seconds: float, timeout_s: float) -> LoadReport:
    from playwright.async_api import async_playwright

    questions = sample_questions()
    turns: list[TurnResult] = []
    leaks: list[str] = []
    page_errors: list[str] = []
    rss: list[float] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            warm = await browser.new_context()  # the first question loads the generator: not measured
            page = await warm.new_page()
            await page.goto(app.url, wait_until="domcontentloaded")
            await _ask(page, questions[0], 1, 600_000)
            await warm.close()
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample_rss(app, rss, stop))
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    _session(
                        browser,
                        app.url,
                        i,
                        questions,
                        started + seconds,
                        timeout_s * 1000,
                        turns,
                        leaks,
                        page_errors,
                    )
                    for i in range(1, sessions + 1)
                )
            )
            elapsed = time.perf_counter() - started
            stop.set()
            await sampler
        finally:
            await browser.close()
    log = app.log.read_text(encoding="utf-8", errors="replace")
    log_errors = tuple(line for line in log.splitlines() if "Traceback" in line or " ERROR " in line)
    return LoadReport(
        sessions, elapsed, tuple(turns), tuple(leaks), tuple(page_errors), log_errors, tuple(rss)
    )


def run_load(app: webapp.RunningApp, sessions: int, seconds: float, timeout_s: float = 900) -> LoadReport:
    """Drive ``sessions`` browser sessions against a running app for ``seconds``."""
    return asyncio.run(_drive(app, sessions, seconds, timeout_s))


def main(argv: list[str] | None = None) -> int:
    from askdocs.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument(
        "--max-answer-tokens",
        type=int,
        default=96,
        help="the app's ASKDOCS_MAX_ANSWER_TOKENS for this run (default 96)",
    )
    parser.add_argument(
        "--model-cache", type=Path, default=None, help="converted models (default: the settings' model cache)"
    )
    parser.add_argument("--out", type=Path, default=webapp.ROOT / "bench" / "out" / "load.json")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        parser.error(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    model_cache = args.model_cache or load_settings().model_cache_dir
    with tempfile.TemporaryDirectory(prefix="askdocs-load-") as tmp:
        environment = webapp.app_environment(
            Path(tmp) / "data",
            model_cache,
            # Every session comes from 127.0.0.1, which the rate limit takes for one anonymous visitor.
            {"ASKDOCS_MAX_ANSWER_TOKENS": str(args.max_answer_tokens), "ASKDOCS_RATE_LIMIT_PER_MINUTE": "0"},
        )
        print("indexing sample_docs …", file=sys.stderr)
        webapp.index_folder(webapp.ROOT / "sample_docs" / "documents", environment)
        with webapp.streamlit_app(environment, Path(tmp) / "server.log") as app:
            print(f"driving {args.sessions} sessions for {args.minutes:g} min …", file=sys.stderr)
            report = run_load(app, args.sessions, args.minutes * 60)
    summary = report.summary()
    print(f"{'machine':>36}  {cpu_line()}")
    for key, value in summary.items():
        print(f"{key:>36}  {value}")
    for problem in (*report.leaks, *report.page_errors, *report.log_errors):
        print("PROBLEM:", problem)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, **asdict(report)}, indent=1), encoding="utf-8")
    print(f"written: {args.out}", file=sys.stderr)
    failed = report.leaks or report.page_errors or report.log_errors or summary["failed questions"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
