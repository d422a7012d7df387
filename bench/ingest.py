"""Ingestion benchmark: one document set ingested one file at a time and pipelined, in the same process.

    python -m bench.ingest [--quick] [--pages N] [--pdf-pages N] [--out bench/out/ingest.json]

Documents: N pages of Debian's python3.11-doc HTML manual (all 512 pages but faq/, which is evaluation
data; evenly spaced over the sorted list when N is smaller, so the sample has the manual's mix of long
library pages, short tutorials and index pages), fetched once as ``bench.foundation`` does, plus one
large PDF drawn with reportlab from the text of the manual's tutorial, howto, reference and library
pages (``--pdf-pages`` pages, built once into the temp dir). The PDF goes first, so both modes have
HTML files to parse while its chunks are embedded.

Method: the same files go through ``Ingestor.ingest_paths``, each time into a fresh store, with
``ingest_prefetch=0`` (sequential: parse, chunk, embed, write, next file) and with the default look-ahead
(a helper thread parses and chunks the next files while this one is embedded), ``--rounds`` times each
in ABBA order (sequential, pipelined, pipelined, sequential, ...) so drifting load from other processes
falls on both modes alike; the speed-up is the ratio of the summed wall times. One embedder, warmed up,
serves both. Parse, chunk, embed, Chroma and BM25 calls are timed by wrapping those objects (as
``bench.foundation`` does), per thread: on the helper thread that time overlaps the main thread's.
"Main thread, other" is the rest of the wall time: reading and hashing files and, pipelined, waiting
for a file the helper has not finished. CPU: this process (every thread, torch's included) and its
reaped parse children from ``os.times``; each core's busy share from ``/proc/stat``; other processes'
share is the machine's busy time minus ours. Rates: pages/s parsed = pages / time inside the sandboxed
parse; chunks/s embedded = chunks / time inside ``embed``; end-to-end = the whole ``ingest_paths`` call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.foundation import DOCS_DIR, ROOT, Report, offline_and_quiet, python_docs, run_and_report

PROFILES: dict[str, dict[str, Any]] = {
    "full": {"pages": 24, "pdf_pages": 40, "rounds": 2, "max_wait": 10},
    "quick": {"pages": 3, "pdf_pages": 2, "rounds": 1, "max_wait": 0},
}
PDF_SECTIONS = ("tutorial", "howto", "reference", "library")  # the PDF's text, in this order


def manual_pages() -> tuple[Path, list[Path]]:
    """The manual's html folder and every page in it but the FAQ, sorted (fetched once)."""
    html = python_docs(1)[0].parents[1]  # .../html/library/x.html -> .../html
    pages = sorted(p for p in html.rglob("*.html") if "faq" not in p.relative_to(html).parts)
    return html, pages


def spread(items: Sequence[Path], n: int) -> list[Path]:
    """``n`` items evenly spaced over ``items`` (all of them when n >= len)."""
    if n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def manual_pdf(html: Path, pages: list[Path], target: int) -> Path:
    """A ``target``-page PDF of manual text (Courier 9 pt, 70 lines a page), built once and kept."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from ingest.loaders import make_loader

    path = DOCS_DIR.with_name(f"askdocs-bench-manual-{target}p.pdf")
    if path.exists():
        return path
    lines: list[str] = []
    loader = make_loader("html")
    for section in PDF_SECTIONS:
        for page in (p for p in pages if p.relative_to(html).parts[0] == section):
            text = "\n".join(p.text for p in loader.load(page.read_bytes()).pages)
            for paragraph in text.split("\n"):
                while len(paragraph) > 100:  # wrap at a space near 100 characters
                    cut = paragraph.rfind(" ", 60, 100) if " " in paragraph[60:100] else 100
                    lines.append(paragraph[:cut])
                    paragraph = paragraph[cut:].lstrip()
                lines.append(paragraph)
            if len(lines) >= 70 * target:
                break
        if len(lines) >= 70 * target:
            break
    partial = path.with_suffix(".partial")
    pdf = canvas.Canvas(str(partial), pagesize=A4)
    pdf.setTitle("The Python 3.11 manual, rendered for the ingestion benchmark")
    for start in range(0, 70 * target, 70):
        text = pdf.beginText(40, 800)
        text.setFont("Courier", 9)
        for line in lines[start : start + 70]:
            text.textLine(line)
        pdf.drawText(text)
        pdf.showPage()
    pdf.save()
    partial.rename(path)  # whole or absent
    return path


class StageClock:
    """Wall time inside wrapped calls, by (stage, thread): "main" or "helper"."""

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                thread = "main" if threading.current_thread() is threading.main_thread() else "helper"
                with self._lock:
                    key = (stage, thread)
                    self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started

        return call

    def proxy(self, target: Any, stage: Callable[[str], str] | str) -> Any:
        clock = self

        class Proxy:
            def __getattr__(self, attr: str) -> Any:
                value = getattr(target, attr)
                name = stage(attr) if callable(stage) else stage
                return clock.wrap(value, name) if callable(value) else value

        return Proxy()

    def total(self, stage: str) -> float:
        return sum(s for (name, _), s in self.seconds.items() if name == stage)


def _cores() -> list[tuple[float, float]]:
    """(busy, total) jiffies of each core, from /proc/stat."""
    out: list[tuple[float, float]] = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            ticks = [int(x) for x in line.split()[1:9]]
            out.append((sum(ticks) - ticks[3] - ticks[4], sum(ticks)))
    return out


def ingest_once(
    report: Report, label: str, folder: Path, embedder: Any, prefetch: int, tmp: Path, html_pages: int
) -> dict[str, float]:
    from askdocs.settings import Settings
    from ingest import pipeline
    from ingest.chunking import TokenChunker
    from retrieval.factory import open_retrieval

    settings = Settings(
        data_dir=tmp, model_cache=tmp / "unused", ingest_prefetch=prefetch, embedder=embedder.spec
    )
    clock, original = StageClock(), pipeline.parse_untrusted
    stack = open_retrieval(settings, embedder)
    try:
        chunker = TokenChunker(embedder.count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens)
        store = clock.proxy(
            stack.store,
            lambda m: (
                "Chroma reads"
                if m in ("document", "documents", "count", "iter_chunks", "iter_chunk_refs")
                else "Chroma writes"
            ),
        )
        ingestor = pipeline.Ingestor(
            store, clock.proxy(embedder, "embed"), stack.bm25, settings, chunker=clock.proxy(chunker, "chunk")
        )
        ingestor.rebuild_bm25 = clock.wrap(ingestor.rebuild_bm25, "BM25 rebuild")  # type: ignore[method-assign]
        pipeline.parse_untrusted = clock.wrap(original, "parse (sandboxed)")
        with report.background(label, "this ingestion"):
            cores0, times0, started = _cores(), os.times(), time.perf_counter()
            outcomes = ingestor.ingest_paths([folder])
            wall, times1, cores1 = time.perf_counter() - started, os.times(), _cores()
    finally:
        pipeline.parse_untrusted = original
        stack.close()
    refused = [o.line() for o in outcomes if o.status == "refused"]
    pages = sum(o.pages for o in outcomes)
    chunks = sum(o.chunks for o in outcomes)
    report.add(label, f"files ({len(refused)} refused; {html_pages} HTML + 1 PDF)", len(outcomes), "files")
    report.add(label, "pages (an HTML file is one page)", pages, "pages")
    report.add(label, "chunks", chunks, "chunks")
    report.add(label, "end-to-end (Ingestor.ingest_paths)", wall / 60, "min")
    report.add(
        label, "pages/s parsed (pages / time in parse)", pages / clock.total("parse (sandboxed)"), "pages/s"
    )
    report.add(label, "chunks/s embedded (chunks / time in embed)", chunks / clock.total("embed"), "chunks/s")
    report.add(label, "pages/s end-to-end", pages / wall, "pages/s")
    main = 0.0
    for (stage, thread), seconds in sorted(
        clock.seconds.items(), key=lambda kv: (kv[0][1] != "main", -kv[1])
    ):
        main += seconds if thread == "main" else 0.0
        report.add(label, f"  {thread} thread: in {stage} ({seconds / wall:.0%} of wall)", seconds, "s")
    report.add(
        label,
        f"  main thread: other: read, hash, wait for the helper ({(wall - main) / wall:.0%})",
        wall - main,
        "s",
    )
    own = times1.user + times1.system - times0.user - times0.system
    children = times1.children_user + times1.children_system - times0.children_user - times0.children_system
    report.add(label, "CPU: this process (all threads, torch's included)", own / wall, "cores")
    report.add(label, "CPU: parse children", children / wall, "cores")
    shares = [(b1 - b0) / max(t1 - t0, 1) for (b0, t0), (b1, t1) in zip(cores0, cores1)]
    for n, share in enumerate(shares):
        report.add(label, f"CPU: core {n} busy (any process)", share * 100, "%")
    report.add(
        label,
        "CPU: other processes (machine busy - ours)",
        max(0.0, sum(shares) - (own + children) / wall),
        "cores",
    )
    pdf_chunks = sum(o.chunks for o in outcomes if o.source.endswith(".pdf"))
    return {
        "wall_s": wall,
        "pages": pages,
        "chunks": chunks,
        "pdf_chunks": pdf_chunks,
        "refused": len(refused),
        "cores_ours": (own + children) / wall,
        "embed_s": clock.total("embed"),
    }


def run(profile: dict[str, Any], report: Report, info: dict[str, Any]) -> None:
    import torch

    from askdocs.settings import Settings
    from retrieval.embedders import embedder_from_settings

    html, pages = manual_pages()
    chosen = spread(pages, profile["pages"])
    pdf = manual_pdf(html, pages, profile["pdf_pages"])
    mb = sum(p.stat().st_size for p in chosen) / 2**20
    all_mb = sum(p.stat().st_size for p in pages) / 2**20
    info["documents"] = {
        "html_pages": len(chosen),
        "html_mb": round(mb, 2),
        "manual_pages": len(pages),
        "manual_mb": round(all_mb, 2),
        "pdf": pdf.name,
        "pdf_mb": round(pdf.stat().st_size / 2**20, 2),
    }
    with tempfile.TemporaryDirectory(prefix="askdocs-bench-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "docs"
        for page in chosen:
            target = folder / "html" / page.relative_to(html)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, target)
        shutil.copyfile(pdf, folder / f"0-{pdf.name}")  # sorted first: see the module docstring
        settings = Settings(
            data_dir=tmp / "unused",
            model_cache=profile["model_cache"],
            **({"embedder": profile["embedder"]} if profile["embedder"] else {}),
        )
        info["embedder"] = settings.embedder
        embedder = embedder_from_settings(settings)
        embedder.embed(["warm-up"] * settings.embed_batch_size)
        report.add(
            "setup",
            f"torch threads (cores: {len(os.sched_getaffinity(0))})",
            torch.get_num_threads(),
            "threads",
        )
        report.add(
            "setup",
            f"HTML pages of {len(pages)} ({mb:.1f} of {all_mb:.1f} MB) + PDF pages",
            len(chosen) + profile["pdf_pages"],
            "pages",
        )
        results: dict[str, list[dict[str, float]]] = {"sequential": [], "pipelined": []}
        ahead = Settings().ingest_prefetch
        # ABBA: on a shared machine the load drifts; this order gives both modes the same average slot.
        order = [("sequential", 0), ("pipelined", ahead)]
        for round_ in range(profile["rounds"]):
            for mode, prefetch in order if round_ % 2 == 0 else order[::-1]:
                label = f"{mode} #{len(results[mode]) + 1}" if profile["rounds"] > 1 else mode
                results[mode].append(
                    ingest_once(report, label, folder, embedder, prefetch, tmp / label, len(chosen))
                )
        seq, pipe = ({k: sum(r[k] for r in runs) for k in runs[0]} for runs in results.values())
        same = all(
            r["chunks"] == seq["chunks"] / len(results["sequential"]) for r in sum(results.values(), [])
        )
        report.add("compare", "same pages and chunks in every run", float(same), "1 = yes")
        report.add(
            "compare",
            "speed-up: sequential wall / pipelined wall (summed over rounds)",
            seq["wall_s"] / pipe["wall_s"],
            "x",
        )
        # Embedding cannot be overlapped by this pipeline; what it can shorten is the rest of the main
        # thread's time, and that is also the part a drifting embedding speed does not blur.
        for mode, runs in (("sequential", seq), ("pipelined", pipe)):
            report.add(
                "compare",
                f"main thread outside embed, {mode} (mean of rounds)",
                (runs["wall_s"] - runs["embed_s"]) / profile["rounds"],
                "s",
            )
        report.add(
            "compare",
            "main thread outside embed: sequential / pipelined",
            (seq["wall_s"] - seq["embed_s"]) / max(pipe["wall_s"] - pipe["embed_s"], 1e-9),
            "x",
        )
        report.add(
            "compare",
            "cores used by askdocs: pipelined - sequential (mean of rounds)",
            (pipe["cores_ours"] - seq["cores_ours"]) / profile["rounds"],
            "cores",
        )
        info["results"] = results
        if len(chosen) < len(pages):  # an estimate, not a measurement: see docs/benchmarks.md
            html_share = 1 - pipe["pdf_chunks"] / max(pipe["chunks"], 1)  # time goes where the chunks go
            minutes = pipe["wall_s"] / profile["rounds"] * html_share * all_mb / mb / 60
            report.add(
                "compare",
                f"whole manual ({len(pages)} pages, {all_mb:.0f} MB), extrapolated by MB",
                minutes,
                "min",
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 HTML pages and a 2-page PDF, one round (CI; ~20 s quiet)"
    )
    parser.add_argument(
        "--pages",
        type=int,
        metavar="N",
        help="HTML pages of the manual (default 24; 0 or more than 512 = all of them)",
    )
    parser.add_argument("--pdf-pages", type=int, metavar="N", help="pages of the PDF (default 40)")
    parser.add_argument(
        "--rounds",
        type=int,
        metavar="R",
        help="sequential/pipelined pairs, in ABBA order (default 2, --quick 1)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ingest.json")
    parser.add_argument("--model-cache", type=Path, default=ROOT / ".askdocs" / "bench-models")
    parser.add_argument(
        "--embedder",
        metavar="SPEC",
        help="e.g. pkg:wordllama-l2-supercat, a static embedder "
        "hundreds of times faster, to see the pipeline when parsing is the bottleneck "
        "(default: ASKDOCS_EMBEDDER, MiniLM)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        metavar="S",
        help="wait up to S s for other processes to go quiet before each mode (default 10, --quick 0)",
    )
    args = parser.parse_args(argv)
    offline_and_quiet()
    profile = dict(
        PROFILES["quick" if args.quick else "full"], model_cache=args.model_cache, embedder=args.embedder
    )
    if args.pages is not None:
        profile["pages"] = args.pages or 10**6
    if args.pdf_pages:
        profile["pdf_pages"] = args.pdf_pages
    if args.max_wait is not None:
        profile["max_wait"] = args.max_wait
    if args.rounds:
        profile["rounds"] = args.rounds
    run_and_report("bench.ingest", argv, profile, args.out, lambda report, info: run(profile, report, info))


if __name__ == "__main__":
    main()
