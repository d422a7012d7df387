"""Local generation: time to first token and decode speed per backend, on the same RAG prompts.

    python -m bench.generation [--quick] [--tune] [--out bench/out/generation.json]

Backends: ``TransformersGenerator`` (the baseline), ``LlamaCppGenerator`` in-process, and llama.cpp's
OpenAI-compatible server through ``OpenAICompatibleGenerator`` (same GGUF, same thread count). --tune adds
in-process variants (threads, flash attention, batch size, a Q8_0 copy of the Q4_K_M weights), each timed
against the default configuration on the same prompts of the first size, one variant loaded at a time.

Method:
- Prompts: ``build_prompt`` (the app's own) over passages of sample_docs and the Python manual pages
  (never the FAQ), picked for each sample question by word overlap, to ~500 and ~2,000 prompt tokens. Each
  prompt is a new question, so a backend that caches whole prompts gains nothing; llama.cpp keeps the KV
  of the shared prefix (the system prompt), which is how it runs in the app and counts in its favour.
- Order: for each prompt, every backend in turn, the first one rotating, so a burst of load from other
  processes (2 shared cores) is spread over backends; a warm-up prompt of the same size goes first.
- TTFT: call to first text piece, p50; decode: (tokens - 1) / (end - first piece), pooled over answers of
  8+ tokens (tokens counted with the transformers tokenizer for all); greedy, same max_tokens.
- The CPU other processes used during the block is reported, as in bench.foundation.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.foundation import (
    QUESTIONS,
    ROOT,
    Report,
    generate_one,
    llama_server,
    offline_and_quiet,
    p50_p95,
    run_and_report,
)

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "model": "pkg:qwen2.5-coder-0.5b-instruct",
        "prompts": 3,
        "sizes": (500, 2000),
        "html_files": 40,
        "max_wait": 20,
        "max_tokens": 64,
        "threads": 0,
    },
    # CI: the plumbing on the tiny model; llama.cpp on 1 thread, as its 2 spinning threads stall for
    # seconds at a time when a CI runner's cores are shared (measured here: 20x slower under load)
    "quick": {
        "model": "pkg:smollm2-135m-instruct",
        "prompts": 1,
        "sizes": (300,),
        "html_files": 2,
        "max_wait": 0,
        "max_tokens": 16,
        "threads": 1,
    },
}
WORD = re.compile(r"[a-z0-9_]{3,}")


def passages(html_files: int) -> list[Any]:
    """Chunks of the sample documents and manual pages, cut as ingestion cuts them (MiniLM's tokens)."""
    from transformers import AutoTokenizer

    from askdocs.models import resolve_embedder
    from askdocs.types import Chunk
    from bench.embed_speed import real_chunks

    tokenizer = AutoTokenizer.from_pretrained(resolve_embedder("pkg:all-minilm-l6-v2"))
    texts = real_chunks(lambda t: len(tokenizer.encode(t, add_special_tokens=False)), html_files, 10**9)
    return [
        Chunk(f"c{i}", f"d{i}", f"passage {i}", "bench", "1", i, text, 1, 1) for i, text in enumerate(texts)
    ]


def rank(question: str, chunks: Sequence[Any]) -> list[Any]:
    """Chunks by how many of the question's words they share: realistic passages, no index needed."""
    from askdocs.types import RetrievedChunk

    words = set(WORD.findall(question.lower()))
    scored = sorted(chunks, key=lambda c: -len(words & set(WORD.findall(c.text.lower()))))
    return [RetrievedChunk(c, 1.0) for c in scored[:60]]


def requantized(gguf: Path, cache: Path, kind: str = "Q8_0") -> Path:
    """A ``kind`` copy of ``gguf`` (from its Q4_K_M weights: the same answers, another kernel), made once."""
    import llama_cpp

    out = cache / "gguf" / f"{gguf.stem}.{kind.lower()}.gguf"
    if not out.is_file():
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind}")
        params.allow_requantize = True
        tmp = out.with_suffix(".tmp")
        if llama_cpp.llama_model_quantize(str(gguf).encode(), str(tmp).encode(), params) != 0:
            raise SystemExit(f"requantizing {gguf} to {kind} failed")
        tmp.rename(out)
    return out


def measure(
    report: Report, backends: dict[str, Any], prompts: dict[int, list[Any]], max_tokens: int, count: Any
) -> dict[str, dict[int, list[dict[str, Any]]]]:
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {name: {} for name in backends}
    names = list(backends)
    for size, (warm_up, *group) in prompts.items():
        for gen in backends.values():
            list(gen.stream(warm_up, 2))  # first-call costs (and a same-size prompt's buffers) stay out
        with report.background(f"generate ~{size}", "the timed prompts"):
            for i, messages in enumerate(group):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    runs[name].setdefault(size, []).append(
                        generate_one(backends[name], messages, max_tokens, count)
                    )
    return runs


def summarise(
    report: Report,
    runs: dict[str, dict[int, list[dict[str, Any]]]],
    prompts: dict[int, list[Any]],
    prompt_tokens: Any,
    baseline: str = "transformers",
) -> None:
    for size, (_, *group) in prompts.items():
        section = f"generate ~{size}"
        report.add(
            section,
            f"prompt length (mean of {len(group)})",
            np.mean([prompt_tokens(m) for m in group]),
            "tokens",
        )
        ttft: dict[str, float] = {}
        for name, by_size in runs.items():
            done = by_size[size]
            ttft[name] = p50_p95([r["ttft_s"] for r in done])[0]
            report.add(section, f"{name}: time to first token p50", ttft[name], "s")
            long = [r for r in done if r["tokens"] >= 8]
            decode = sum(r["tokens"] - 1 for r in long) / sum(r["decode_s"] for r in long) if long else np.nan
            report.add(section, f"{name}: decode (answers of 8+ tokens, pooled)", decode, "tokens/s")
        for name in runs:
            if name != baseline:
                report.add(section, f"TTFT ratio {name} / {baseline}", ttft[name] / ttft[baseline], "x")


def run(args: argparse.Namespace, profile: dict[str, Any], report: Report, info: dict[str, Any]) -> None:
    from askdocs.models import packaged_gguf
    from generation.generators.llamacpp import LlamaCppGenerator
    from generation.generators.openai import OpenAICompatibleGenerator
    from generation.generators.transformers import TransformersGenerator
    from generation.prompt import build_prompt

    cache, model = args.model_cache, profile["model"]
    threads = profile["threads"] or len(os.sched_getaffinity(0))
    started = time.perf_counter()
    local = TransformersGenerator(model, cache, device="cpu")
    report.add("load", "transformers", time.perf_counter() - started, "s")
    backends: dict[str, Any] = {"transformers": local}
    started = time.perf_counter()
    backends["llama.cpp in-process"] = LlamaCppGenerator(model, cache, threads=threads)
    report.add(
        "load",
        f"llama.cpp in-process ({threads} threads, flash attention, batch 512)",
        time.perf_counter() - started,
        "s",
    )
    gguf = packaged_gguf(model, cache)
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    chunks = passages(profile["html_files"])
    per_size = profile["prompts"] + 1
    prompts = {
        size: [
            build_prompt(q, rank(q, chunks), local.count_tokens, size).messages
            for q in questions[i * per_size : (i + 1) * per_size]
        ]
        for i, size in enumerate(profile["sizes"])
    }
    with tempfile.TemporaryDirectory(prefix="askdocs-gen-") as tmp:
        started = time.perf_counter()
        with llama_server(gguf, threads, Path(tmp) / "llama-server.log") as (url, pid):
            report.pids.add(pid)
            report.add(
                "load", f"llama.cpp server start ({threads} threads)", time.perf_counter() - started, "s"
            )
            backends["llama.cpp server"] = OpenAICompatibleGenerator(
                url, "qwen", "none", timeout_s=600, retries=0
            )
            runs = measure(report, backends, prompts, profile["max_tokens"], local.count_tokens)
    summarise(report, runs, prompts, local.prompt_tokens)
    info["runs"] = {
        name: {str(size): done for size, done in by_size.items()} for name, by_size in runs.items()
    }
    if args.tune:
        del backends["llama.cpp server"]
        info["tune"] = tune(
            report,
            backends["llama.cpp in-process"],
            model,
            cache,
            gguf,
            threads,
            prompts[profile["sizes"][0]],
            local.count_tokens,
        )


def tune(
    report: Report,
    default: Any,
    model: str,
    cache: Path,
    gguf: Path,
    threads: int,
    prompts: list[Any],
    count: Any,
) -> dict[str, list[float]]:
    """Each llama.cpp variant against the default, prompt by prompt, one variant loaded at a time (memory)."""
    import gc

    from generation.generators.llamacpp import LlamaCppGenerator

    variants: dict[str, dict[str, Any]] = {
        "1 thread": dict(threads=1),
        "no flash attention": dict(flash_attn=False),
        "batch 128": dict(batch=128),
        "batch 2048": dict(batch=2048),
        "Q8_0 weights": dict(q8=True),
    }
    section, out = "llama.cpp variants", {}
    for name, options in variants.items():
        path = str(requantized(gguf, cache)) if options.pop("q8", False) else model
        options = {"threads": threads, **options}
        variant = LlamaCppGenerator(path, cache, **options)
        list(variant.stream(prompts[0], 2))  # warm-up
        ratios = []
        with report.background(section, name):
            for messages in prompts[1:]:
                base = generate_one(default, messages, 8, count)["ttft_s"]
                ratios.append(generate_one(variant, messages, 8, count)["ttft_s"] / base)
        report.add(
            section,
            f"TTFT {name} / default (2 threads, flash attention, batch 512, Q4_K_M)",
            float(np.median(ratios)),
            "x",
        )
        out[name] = ratios
        del variant
        gc.collect()
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generation", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="SmolLM2-135M, one ~300-token prompt (~1 min)")
    parser.add_argument("--threads", type=int, metavar="N", help="llama.cpp threads (default: all cores)")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="answer tokens (default 64, quick 16)")
    parser.add_argument(
        "--tune",
        action="store_true",
        help="also llama.cpp variants: threads, flash attention, batch size, Q8_0",
    )
    parser.add_argument(
        "--prompts", type=int, metavar="N", help="timed prompts per size (default 3, quick 1)"
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        metavar="A,B",
        help="prompt sizes in tokens (default 500,2000; quick 300)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "generation.json")
    parser.add_argument("--model-cache", type=Path, default=ROOT / ".askdocs" / "bench-models")
    parser.add_argument(
        "--max-wait",
        type=float,
        metavar="S",
        help="wait up to S s for other processes to go quiet before each block (default 20, quick 0)",
    )
    args = parser.parse_args(argv)
    offline_and_quiet()
    profile = dict(PROFILES["quick" if args.quick else "full"])
    for key in ("prompts", "sizes", "max_wait", "threads", "max_tokens"):
        if getattr(args, key) is not None:
            profile[key] = getattr(args, key)
    run_and_report(
        "bench.generation", argv, profile, args.out, lambda report, info: run(args, profile, report, info)
    )


if __name__ == "__main__":
    main()
