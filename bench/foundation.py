"""Foundation benchmark: parsing, ingestion, embedding, query latency and generation, on this machine.

    python -m bench.foundation [--quick] [--out bench/out/foundation.json] [--model-cache DIR] [--max-wait S]

Method: ``time.perf_counter`` around real askdocs code, after a warm-up call of the same kind; load and
start-up times are reported on their own; p50/p95 are ``numpy.percentile``. On 2 cores any other work
slows torch and llama.cpp several times over, so each measured block first waits (up to --max-wait s) for
other processes to go quiet, then reports the cores they used during it (/proc/stat minus the CPU time of
this process, its children and its server). Documents: sample_docs/documents and the first N
pages (by name) of html/library/ from Debian's python3.11-doc, extracted once into a temp dir; nothing
under faq/ or _sources/faq/ is read (the Python FAQ is the evaluation set).
- Parsing: ``parse_untrusted`` (a child process per file) against the same loader in-process.
- Ingestion: one ``Ingestor.ingest_paths`` per document set, its parts (parse, chunk, embed, Chroma,
  BM25) timed by wrapping them; the embedder's chunks/s comes from this run, on the real chunks.
- Queries: ``HybridRetriever.retrieve``'s own stage timings plus the call's wall time, over the sample
  questions and HTML section headings, against one collection holding both sets.
- Generation: the same prompts (``build_prompt`` over retrieved passages to ~500 and ~2000 tokens, a new
  question each so no prompt cache helps), greedy, same max_tokens, to ``TransformersGenerator`` and via
  ``OpenAICompatibleGenerator`` to ``llama_cpp.server`` (same GGUF, torch's thread count, 127.0.0.1).
  Output tokens are counted with the Qwen tokenizer for both (the API backend's ``count_tokens`` is a
  characters/3 estimate). TTFT: call to first text piece; decode: (tokens - 1) / (end - first piece),
  pooled over the answers of 8 tokens or more.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np

from askdocs.localserver import free_port, running_server

ROOT = Path(__file__).resolve().parents[1]
SAMPLES, QUESTIONS = ROOT / "sample_docs" / "documents", ROOT / "sample_docs" / "questions.jsonl"
MANUAL = "usr/share/doc/python3.11/html"
DOCS_DIR = Path(tempfile.gettempdir()) / "askdocs-bench-python3.11-doc"  # holds MANUAL
GENERATOR, MAX_TOKENS = "pkg:qwen2.5-coder-0.5b-instruct", 64
PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "html_files": 100,
        "queries": 50,
        "prompts": 5,
        "sizes": (500, 2000),
        "sample_reps": 3,
        "max_wait": 20,
    },
    "quick": {
        "html_files": 10,
        "queries": 20,
        "prompts": 1,
        "sizes": (500,),
        "sample_reps": 1,
        "max_wait": 10,
    },
}


class Report:
    """Rows of (section, metric, value, unit), echoed to stderr as measured, then printed as a table."""

    def __init__(self, max_wait_s: float) -> None:
        self.rows: list[dict[str, Any]] = []
        self.max_wait_s, self.pids = max_wait_s, set[int]()  # pids: our live servers, not "other processes"

    def add(self, section: str, metric: str, value: float | np.floating[Any], unit: str) -> None:
        self.rows.append(dict(section=section, metric=metric, value=round(float(value), 4), unit=unit))
        print(f"[{section}] {metric}: {_fmt(cast(float, value))} {unit}", file=sys.stderr, flush=True)

    def table(self) -> str:
        order: dict[str, int] = {}
        for row in self.rows:
            order.setdefault(row["section"], len(order))
        rows = sorted(self.rows, key=lambda r: order[r["section"]])  # stable: each section's rows together
        return "\n".join(
            [f"{'section':<15} {'metric':<52} {'value':>9}  unit", "-" * 88]
            + [f"{r['section']:<15} {r['metric']:<52} {_fmt(r['value']):>9}  {r['unit']}" for r in rows]
        )

    def others(self, before: tuple[float, float, float]) -> float:
        """Cores other processes kept busy since ``before`` (a ``_cpu`` sample)."""
        wall, busy, own = (after - start for after, start in zip(_cpu(self.pids), before))
        return max(0.0, busy - own) / wall

    @contextmanager
    def background(self, section: str, what: str) -> Iterator[None]:
        """Wait (bounded) for other processes to go quiet, run the block, report the CPU they used in it."""
        deadline = time.monotonic() + self.max_wait_s
        while time.monotonic() < deadline:
            before = _cpu(self.pids)
            time.sleep(1)
            if self.others(before) < 0.2:
                break
        before = _cpu(self.pids)
        yield
        self.add(section, f"CPU used by other processes during {what}", self.others(before), "cores")


def _cpu(pids: set[int]) -> tuple[float, float, float]:
    """(wall s, busy CPU s of the machine, CPU s of this process, its reaped children and ``pids``)."""
    hz, ticks = os.sysconf("SC_CLK_TCK"), [int(x) for x in Path("/proc/stat").read_text().split()[1:9]]
    own, live = os.times(), 0
    for pid in pids:
        try:  # utime and stime: fields 14 and 15 of /proc/PID/stat, counted after the ")" ending its name
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            live += int(fields[11]) + int(fields[12])
        except OSError:
            pass  # already reaped: counted in children_* instead
    busy = (sum(ticks) - ticks[3] - ticks[4]) / hz  # all but idle and iowait
    return time.monotonic(), busy, own.user + own.system + own.children_user + own.children_system + live / hz


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def p50_p95(values: Sequence[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.asarray(values, dtype=float), [50, 95])
    return float(p50), float(p95)


def timed(fn: Callable[..., Any], totals: dict[str, float], name: str) -> Callable[..., Any]:
    """``fn``, adding the wall time of each call to ``totals[name]``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - started

    return call


class Timed:
    """A proxy timing every method call on ``target`` into ``totals[name]``; attributes pass through."""

    def __init__(self, target: Any, totals: dict[str, float], name: str) -> None:
        self._target, self._totals, self._name = target, totals, name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        return timed(value, self._totals, self._name) if callable(value) else value


def python_docs(limit: int) -> list[Path]:
    """The first ``limit`` pages of the Python 3.11 library manual, fetched once from Debian."""
    html = Path("/") / MANUAL if (Path("/") / MANUAL / "library").is_dir() else DOCS_DIR / MANUAL
    if not (html / "library").is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            got = subprocess.run(["apt-get", "download", "python3.11-doc"], cwd=tmp, capture_output=True)
            debs = sorted(Path(tmp).glob("python3.11-doc_*.deb"))
            if got.returncode or not debs:
                raise SystemExit(f"apt-get download python3.11-doc failed (apt-get update?): {got.stderr!r}")
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), f"{tmp}/x"], check=True)
            Path(tmp, "x").rename(DOCS_DIR)  # whole or absent: a crash never leaves half a manual
    pages = sorted((html / "library").glob("*.html"))
    return [p for p in pages if "faq" not in p.relative_to(html).parts][:limit]  # the FAQ is eval data


def headings(files: Sequence[Path], count: int) -> list[str]:
    """``count`` distinct section headings (two words or more), spread over ``files``."""
    from lxml import html as lxml_html

    found: list[str] = []
    for path in files:
        for node in lxml_html.fromstring(path.read_bytes()).iter("h1", "h2", "h3"):
            text = " ".join(node.text_content().replace("¶", " ").split())
            if len(text.split()) >= 2 and text not in found:
                found.append(text)
    return found[:: max(1, len(found) // max(count, 1))][:count]


def bench_parsing(report: Report, label: str, files: Sequence[Path], settings: Any, reps: int) -> None:
    from ingest.loaders import make_loader
    from ingest.sandbox import parse_untrusted
    from ingest.validate import detect_kind

    blobs = [(path.name, path.read_bytes()) for path in files]
    kinds = [detect_kind(data, name) for name, data in blobs]
    parse_untrusted(*blobs[0], settings)  # warm-up, which also starts the spare child
    make_loader(kinds[0]).load(blobs[0][1])
    sandboxed, in_process, pages = [], [], 0
    for (name, data), kind in list(zip(blobs, kinds)) * reps:
        started = time.perf_counter()
        pages += len(parse_untrusted(name, data, settings).document.pages)
        sandboxed.append(time.perf_counter() - started)
        started = time.perf_counter()
        make_loader(kind, max_pages=settings.max_pages).load(data)
        in_process.append(time.perf_counter() - started)
    mb, s, section = reps * sum(len(d) for _, d in blobs) / 2**20, sum(sandboxed), f"parse {label}"
    report.add(
        section, f"files parsed ({reps} pass(es): {pages} pages, {mb:.1f} MB)", len(blobs) * reps, "files"
    )
    report.add(section, "parse_untrusted (sandboxed)", len(sandboxed) / s, "files/s")
    report.add(section, "parse_untrusted (sandboxed)", pages / s, "pages/s")
    report.add(section, "parse_untrusted (sandboxed)", mb / s, "MB/s")
    report.add(section, "same loader in-process", len(in_process) / sum(in_process), "files/s")
    report.add(section, "per-file latency p50, sandboxed", p50_p95(sandboxed)[0] * 1e3, "ms")
    report.add(section, "per-file latency p50, in-process", p50_p95(in_process)[0] * 1e3, "ms")
    overhead = (s - sum(in_process)) / len(sandboxed)
    report.add(section, "sandbox overhead per file (mean)", overhead * 1e3, "ms")


def bench_ingestion(
    report: Report, label: str, ingestor: Any, files: Sequence[Path], totals: dict[str, float]
) -> None:
    totals.clear()
    started = time.perf_counter()
    outcomes = ingestor.ingest_paths(list(files))
    total, chunks, section = time.perf_counter() - started, sum(o.chunks for o in outcomes), f"ingest {label}"
    refused = sum(o.status == "refused" for o in outcomes)
    report.add(section, f"files ingested ({refused} refused)", len(outcomes), "files")
    report.add(section, "chunks", chunks, "chunks")
    report.add(section, "Ingestor.ingest_paths wall time", total, "s")
    for stage, seconds in {**totals, "other (hash, read, catalogue)": total - sum(totals.values())}.items():
        report.add(section, f"  in {stage} ({seconds / total:.0%})", seconds, "s")
    report.add(section, "embedder throughput on these chunks", chunks / totals["embed"], "chunks/s")


def bench_queries(report: Report, retriever: Any, collection: str, queries: Sequence[str]) -> None:
    for query in queries[:3]:
        retriever.retrieve(query, collection)  # warm-up: loads the BM25 index, touches Chroma's HNSW
    stages: dict[str, list[float]] = {}
    for query in queries:
        started = time.perf_counter()
        result = retriever.retrieve(query, collection)
        for stage, seconds in {**result.timings, "total retrieve": time.perf_counter() - started}.items():
            stages.setdefault(stage, []).append(seconds)
    for stage, values in stages.items():
        p50, p95 = p50_p95(values)
        report.add("query", f"{stage} p50 ({len(values)} queries)", p50 * 1e3, "ms")
        report.add("query", f"{stage} p95", p95 * 1e3, "ms")


def generate_one(gen: Any, messages: Any, max_tokens: int, count: Callable[[str], int]) -> dict[str, Any]:
    """Stream one prompt greedily: time to first piece, from it to the end, in all, and output tokens."""
    started, first, pieces = time.perf_counter(), 0.0, []
    for piece in gen.stream(messages, max_tokens, 0.0):
        first = first or time.perf_counter()
        pieces.append(piece)
    end = time.perf_counter()
    first, text = first or end, "".join(pieces)
    return {
        "ttft_s": first - started,
        "decode_s": end - first,
        "total_s": end - started,
        "tokens": count(text),
        "text": text,
    }


def generate(gen: Any, prompts: Sequence[Any], count: Callable[[str], int]) -> list[dict[str, Any]]:
    """:func:`generate_one` for each prompt, with the benchmark's answer limit."""
    return [generate_one(gen, messages, MAX_TOKENS, count) for messages in prompts]


@contextmanager
def llama_server(gguf: Path, threads: int, log: Path, timeout_s: float = 180) -> Iterator[tuple[str, int]]:
    """``python -m llama_cpp.server`` on 127.0.0.1, always stopped on exit; yields its /v1 URL and pid."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--model_alias",
        "qwen",
    ]
    with running_server(args, port, log, timeout_s) as process:
        yield f"http://127.0.0.1:{port}/v1", process.pid


def bench_generation(
    report: Report,
    retriever: Any,
    collection: str,
    profile: dict[str, Any],
    questions: list[str],
    cache: Path,
    workdir: Path,
) -> dict[str, Any]:
    import torch

    from askdocs.models import packaged_gguf
    from generation.generators.openai import OpenAICompatibleGenerator
    from generation.generators.transformers import TransformersGenerator
    from generation.prompt import build_prompt

    started = time.perf_counter()
    local = TransformersGenerator(GENERATOR, cache, device="cpu")
    report.add("generate", "transformers model load", time.perf_counter() - started, "s")
    per_size = profile["prompts"] + 1  # one warm-up prompt, then the timed ones; a new question each
    if len(questions) < per_size * len(profile["sizes"]):
        raise SystemExit(f"{QUESTIONS} has too few questions for {per_size} prompts per size")
    prompts = {
        size: [
            build_prompt(q, retriever.retrieve(q, collection, k=20).hits, local.count_tokens, size).messages
            for q in questions[i * per_size : (i + 1) * per_size]
        ]
        for i, size in enumerate(profile["sizes"])
    }
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {"transformers": {}, "llama.cpp": {}}

    def measure(backend: str, gen: Any) -> None:
        for size, (warm_up, *group) in prompts.items():
            list(gen.stream(warm_up, 2))  # a prompt as long as the timed ones: first-call costs stay out
            with report.background(f"generate ~{size}", backend):
                runs[backend][size] = generate(gen, group, local.count_tokens)

    measure("transformers", local)
    threads, started = torch.get_num_threads(), time.perf_counter()
    with llama_server(packaged_gguf(GENERATOR, cache), threads, workdir / "llama-server.log") as (url, pid):
        report.pids.add(pid)
        report.add(
            "generate", f"llama.cpp server start ({threads} threads)", time.perf_counter() - started, "s"
        )
        measure("llama.cpp", OpenAICompatibleGenerator(url, "qwen", "none", timeout_s=600, retries=0))
    for size, (_, *group) in prompts.items():
        section, ttft = f"generate ~{size}", {}
        length = np.mean([local.prompt_tokens(m) for m in group])
        report.add(section, f"prompt length (mean of {len(group)} prompts)", length, "tokens")
        for backend, by_size in runs.items():
            done = by_size[size]
            ttft[backend] = p50_p95([r["ttft_s"] for r in done])[0]
            report.add(section, f"{backend} time to first token p50", ttft[backend], "s")
            long = [r for r in done if r["tokens"] >= 8]  # a 3-token answer may arrive as one piece
            decode = sum(r["tokens"] - 1 for r in long) / sum(r["decode_s"] for r in long) if long else np.nan
            report.add(section, f"{backend} decode (answers of 8+ tokens, pooled)", decode, "tokens/s")
            report.add(section, f"{backend} whole answer p50", p50_p95([r["total_s"] for r in done])[0], "s")
            report.add(
                section,
                f"{backend} answer length (mean; cap {MAX_TOKENS})",
                np.mean([r["tokens"] for r in done]),
                "tokens",
            )
        ratio = ttft["llama.cpp"] / ttft["transformers"]
        report.add(section, "TTFT ratio llama.cpp / transformers", ratio, "x")
        same = sum(a["text"] == b["text"] for a, b in zip(*(by_size[size] for by_size in runs.values())))
        report.add(section, "identical answers from both backends", same, f"of {len(group)}")
    return {backend: {str(size): done for size, done in by_size.items()} for backend, by_size in runs.items()}


def machine() -> dict[str, Any]:
    import torch

    from askdocs.machine import cpu_model, instruction_set

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "simd": instruction_set(),
        "torch_threads": torch.get_num_threads(),
        "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": os.getloadavg(),
    }


def offline_and_quiet() -> None:
    """Before any model loads: never reach for a hub (these benchmarks run offline), and no library chatter."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(name, "1")
    from askdocs.quiet import quiet_libraries

    quiet_libraries()


def run_and_report(
    module: str,
    argv: Sequence[str] | None,
    profile: dict[str, Any],
    out: Path,
    body: Callable[[Report, dict[str, Any]], None],
) -> dict[str, Any]:
    """What every ``bench`` module's ``main`` does around its measurements.

    Print the command, the date and the machine; run ``body(report, info)``; add the wall time and the
    load at the end; write ``info`` with the report's rows to ``out`` as JSON; print the table.
    """
    command = shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])
    info: dict[str, Any] = {
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "profile": profile,
    }
    print(f"$ {command}\n{info['date']}  {json.dumps(info['machine'])}", flush=True)
    report, began = Report(profile["max_wait"]), time.perf_counter()
    body(report, info)
    report.add("run", "benchmark wall time", time.perf_counter() - began, "s")
    info.update(rows=report.rows, load_average_at_end=os.getloadavg())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(info, indent=2, default=str))  # default=str: paths in a profile
    print(f"\n{report.table()}\n\nwrote {out}")
    return info


def run(args: argparse.Namespace, profile: dict[str, Any], info: dict[str, Any], report: Report) -> None:
    from askdocs.settings import Settings
    from ingest import pipeline
    from ingest.chunking import TokenChunker
    from retrieval.embedders import embedder_from_settings
    from retrieval.factory import open_retrieval

    samples = sorted(p for p in SAMPLES.iterdir() if p.is_file())
    html_files = python_docs(profile["html_files"])
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="askdocs-bench-") as tmp:
        os.environ["ASKDOCS_DATA_DIR"] = str(Path(tmp) / "data")  # throwaway state for anything reading it
        settings = Settings(data_dir=Path(tmp) / "data", model_cache=args.model_cache)
        info["settings"] = settings.model_dump(mode="json", exclude={"api_key"})
        with report.background("parse samples", "the parsing runs"):
            bench_parsing(report, "samples", samples, settings, profile["sample_reps"])
        with report.background("parse html", "the parsing runs"):
            bench_parsing(report, "html", html_files, settings, 1)
        embedder = embedder_from_settings(settings)
        embedder.embed(["warm-up"] * settings.embed_batch_size)
        totals: dict[str, float] = {}
        original = pipeline.parse_untrusted  # the pipeline calls it as a module global: wrap it there
        stack = open_retrieval(settings, embedder)
        try:
            s = settings
            chunker = TokenChunker(embedder.count_tokens, s.chunk_tokens, s.chunk_overlap_tokens)
            store, embed = Timed(stack.store, totals, "Chroma"), Timed(embedder, totals, "embed")
            ingestor = pipeline.Ingestor(store, embed, stack.bm25, s, chunker=Timed(chunker, totals, "chunk"))
            ingestor.rebuild_bm25 = timed(ingestor.rebuild_bm25, totals, "BM25 rebuild")  # type: ignore
            pipeline.parse_untrusted = timed(original, totals, "parse (sandboxed)")
            for label, files in (("samples", samples), ("html", html_files)):
                with report.background(f"ingest {label}", "ingestion"):
                    bench_ingestion(report, label, ingestor, files, totals)
            pipeline.parse_untrusted, collection = original, settings.default_collection
            lengths = [embedder.count_tokens(c.text) for c in stack.store.iter_chunks(collection)]
            report.add("index", f"chunk length (mean of {len(lengths)})", np.mean(lengths), "embedder tokens")
            queries = (questions + headings(html_files, profile["queries"]))[: profile["queries"]]
            with report.background("query", "the queries"):
                bench_queries(report, stack.retriever, collection, queries)
            info["generation_runs"] = bench_generation(
                report, stack.retriever, collection, profile, questions, s.model_cache_dir, Path(tmp)
            )
        finally:
            pipeline.parse_untrusted = original
            stack.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.foundation", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer files, queries and prompts (~1-3 min)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "foundation.json")
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=ROOT / ".askdocs" / "bench-models",
        help="converted model weights, kept between runs (default: .askdocs/bench-models)",
    )
    parser.add_argument("--html-files", type=int, metavar="N", help="manual pages (default 100, quick 10)")
    parser.add_argument(
        "--max-wait",
        type=float,
        metavar="S",
        help="before each measured block, wait up to "
        "S s (default 20, --quick 10) for other processes to go quiet",
    )
    args = parser.parse_args(argv)
    offline_and_quiet()
    profile = dict(PROFILES["quick" if args.quick else "full"])
    profile["html_files"] = args.html_files or profile["html_files"]
    if args.max_wait is not None:
        profile["max_wait"] = args.max_wait

    def body(report: Report, info: dict[str, Any]) -> None:
        info["max_tokens"] = MAX_TOKENS
        run(args, profile, info, report)

    run_and_report("bench.foundation", argv, profile, args.out, body)


if __name__ == "__main__":
    main()
