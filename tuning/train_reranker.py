"""Train askdocs' offline reranker: a cross-encoder on MiniLM-L6's transformer, from ``python3.11-doc``.

``python -m tuning.train_reranker --out models/reranker-minilm [--max-steps N]
[--max-length 128] [--synthetic N [--generator-backend llamacpp]]``

Builds the data (``tuning.reranker_data``), trains, scores the sample documents' smoke set
with the new model (``tuning.smoke_check``), and saves an fp16 safetensors CrossEncoder
folder with ``training.json`` (the data card: sources, counts, parameters, timings, the smoke check) and
a model card ``README.md`` (``tuning.model_card``).

Design choices:
- The loop is ours, a few lines of torch around sentence-transformers' ``BinaryCrossEntropyLoss``:
  ``CrossEncoderTrainer`` needs Hugging Face ``datasets`` (and pyarrow), which the product does not
  otherwise need. Each step takes ``groups_per_step`` queries with their positive and hard negatives;
  ``pos_weight`` = negatives per positive, as in sentence-transformers' reranker recipes, so positives
  and negatives weigh the same in the loss.
- MiniLM's word embeddings are frozen by default: they are half the parameters, a few hundred steps
  on CPU cannot move them usefully, and the step gets faster.
- A wall-clock budget (``--time-budget-min``) stops training early and still saves: on shared CPUs the
  step rate is only known once it runs. The learning-rate schedule follows ``--max-steps``.
- Saved in fp16 safetensors (half the bytes) with ``"dtype": "float32"`` in ``config.json``, so every
  loader casts back to fp32: fp16 matmuls are slow or missing on many CPUs.
- ``--synthetic N`` adds questions the local generator writes for N pool passages
  (``tuning.synthetic``), cached in ``--cache``. Off by default: it needs a generator and
  takes about a second a question with llama.cpp, and the held-out check below is not yet measured
  with it. Held-out groups are drawn from heading and index queries only, whatever N is, so runs with
  and without synthetic questions are checked on the same groups; a synthetic question whose passage
  is a held-out positive is not trained on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import random
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tuning.model_card import write_card
from tuning.smoke_check import fused_loses, smoke_ndcg

BASE = "pkg:all-minilm-l6-v2"
DEFAULT_CACHE = Path(__file__).resolve().parents[1] / ".askdocs" / "reranker-data"


def find_sources(given: Path | None) -> tuple[Path, str]:
    """The ``_sources`` tree to read and how the data card names it (default: the cached .deb)."""
    if given is not None:
        return given, "a given _sources tree"
    from eval.datasets.python_faq import fetch_docs

    package = fetch_docs()
    return package.sources, f"{package.deb.name}, sha256 {package.sha256}"


def build_data(sources: Path, args: argparse.Namespace, cache: Path) -> tuple[list, dict]:
    from dataclasses import asdict, replace

    from retrieval.embedders import load_embedder
    from tuning import reranker_data as rd

    collected = rd.collect(sources)
    if args.no_faq_dev:
        collected = replace(collected, queries=tuple(q for q in collected.queries if q.source != "faq-dev"))
    chosen = rd.sample(collected.queries, args.max_headings, args.max_index)
    synthetic: dict = {"requested": args.synthetic}
    if args.synthetic:
        from tuning import synthetic as syn

        generator, info = syn.local_generator(args.generator_backend)
        with syn.ReplyCache(cache / syn.CACHE_FILE, generator) as replies:
            written = syn.synthetic_queries(collected, args.synthetic, replies)
        del generator, replies  # the model's memory, before the embedder and the trainer load
        chosen += written.queries
        synthetic |= {**written.counts, "generator": asdict(info)}
    embedder = load_embedder(BASE, device="cpu")
    groups = rd.mine(
        collected,
        chosen,
        rd.bm25_hits(collected.pool),
        rd.dense_hits(collected.pool, embedder.embed, cache),
        negatives=args.negatives,
    )
    return groups, {**rd.counts(collected, chosen, groups), "synthetic": synthetic}


def split_held_out(groups: list, count: int) -> tuple[list, list]:
    """(held-out, training) groups: held-out from heading and index queries only, in hash order.

    A synthetic question whose passage is a held-out positive is dropped, not trained on.
    """
    held_ids = held_out_ids((g.query_id for g in groups if g.source in ("heading", "index")), count)
    held = [g for g in groups if g.query_id in held_ids]
    held_positives = {g.positive_id for g in held}
    return held, [
        g
        for g in groups
        if g.query_id not in held_ids and not (g.source == "synthetic" and g.positive_id in held_positives)
    ]


def load_for_cpu(folder: str | Path, max_length: int = 128):
    """The saved model as an fp32 CrossEncoder (fp16 matmuls are slow or missing on many CPUs)."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    return CrossEncoder(
        str(folder), device="cpu", max_length=max_length, model_kwargs={"dtype": torch.float32}
    )


def held_out_ids(ids: Iterable[str], count: int, salt: str = "") -> set[str]:
    """The first ``count`` distinct ids in the order of ``sha256(salt + id)``: a split that no run reshuffles."""
    ordered = sorted(set(ids), key=lambda i: hashlib.sha256((salt + i).encode()).hexdigest())
    return set(ordered[:count])


def train(
    groups: list,
    args: argparse.Namespace,
    base: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Train on ``groups`` and save into ``args.out``.

    ``base``: a CrossEncoder to fine-tune further (None: BASE's transformer with a new head);
    ``progress(step, max_steps)`` is called after every step.
    """
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from askdocs.models import resolve_embedder

    torch.manual_seed(args.seed)
    model = CrossEncoder(
        base or resolve_embedder(BASE),
        num_labels=1,
        max_length=args.max_length,
        device="cpu",
        model_kwargs={"dtype": torch.float32},
    )  # a saved fp16 base trains in fp32
    if args.freeze_embeddings:
        model.model.get_input_embeddings().weight.requires_grad_(False)
    loss_fn = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(args.negatives)))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(0.1 * args.max_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min((s + 1) / warmup, max(0.0, (args.max_steps - s) / max(1, args.max_steps - warmup))),
    )
    order = list(range(len(groups)))
    random.Random(args.seed).shuffle(order)
    model.train()
    started, losses, step = time.perf_counter(), [], 0
    deadline = started + 60 * args.time_budget_min if args.time_budget_min else math.inf
    while step < args.max_steps and time.perf_counter() < deadline:
        first = step * args.groups_per_step
        batch = [groups[order[(first + i) % len(order)]] for i in range(args.groups_per_step)]
        queries, passages, labels = [], [], []
        for g in batch:
            for text, label in [(g.positive, 1.0), *((n, 0.0) for n in g.negatives)]:
                queries.append(g.query)
                passages.append(text)
                labels.append(label)
        loss = loss_fn([queries, passages], torch.tensor(labels))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.detach().item())
        step += 1
        if progress is not None:
            progress(step, args.max_steps)
        if step % args.log_every == 0 or step == 1:
            rate = step * len(labels) / (time.perf_counter() - started)
            recent = losses[-args.log_every :]
            print(
                f"step {step}/{args.max_steps} loss {sum(recent) / len(recent):.4f} ({rate:.1f} pairs/s)",
                flush=True,
            )
    seconds = time.perf_counter() - started
    model.eval()
    model.model.half()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    # the weights stay fp16 on disk; "dtype": "float32" makes any loader (CrossEncoderReranker included)
    # cast them up, instead of running fp16 matmuls on a CPU
    config = json.loads((out / "config.json").read_text("utf-8"))
    (out / "config.json").write_text(json.dumps({**config, "dtype": "float32"}, indent=2) + "\n", "utf-8")
    pairs = step * args.groups_per_step * (1 + args.negatives)
    return {
        "steps": step,
        "pairs_seen": pairs,
        "groups_seen": step * args.groups_per_step,
        "epochs": round(step * args.groups_per_step / max(1, len(groups)), 3),
        "seconds": round(seconds, 1),
        "pairs_per_second": round(pairs / seconds, 2) if seconds else None,
        "loss_first_10": round(sum(losses[:10]) / max(1, len(losses[:10])), 4),
        "loss_last_10": round(sum(losses[-10:]) / max(1, len(losses[-10:])), 4),
    }


def held_out_accuracy(model, groups: list) -> float:
    """Share of groups whose positive outscores all its hard negatives."""
    wins = 0
    for g in groups:
        scores = model.predict([(g.query, p) for p in (g.positive, *g.negatives)], show_progress_bar=False)
        wins += int(scores[0] > max(scores[1:]))
    return wins / max(1, len(groups))


def main(argv: list[str] | None = None) -> int:
    from tuning.synthetic import add_generator_argument

    parser = argparse.ArgumentParser(
        prog="python -m tuning.train_reranker", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-steps", type=int, default=250)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--groups-per-step", type=int, default=4)
    parser.add_argument("--negatives", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--max-headings", type=int, default=1500)
    parser.add_argument("--max-index", type=int, default=700)
    parser.add_argument("--held-out", type=int, default=100, help="groups kept out of training, for a check")
    parser.add_argument("--no-faq-dev", action="store_true", help="leave the FAQ dev questions out as well")
    parser.add_argument("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--time-budget-min", type=float, default=0, help="stop training after this (0: none)")
    parser.add_argument("--sources", type=Path, help="an extracted _sources tree (default: the cached .deb)")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="mined-vector and synthetic-question cache"
    )
    parser.add_argument(
        "--synthetic",
        type=int,
        default=0,
        help="passages to have the local generator write a question for (0: none)",
    )
    parser.add_argument("--log-every", type=int, default=10)
    add_generator_argument(parser)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sources, deb = find_sources(args.sources)
    groups, data = build_data(sources, args, args.cache)
    print(f"data in {time.perf_counter() - started:.0f} s: {json.dumps(data)}", flush=True)
    held, train_groups = split_held_out(groups, args.held_out)
    if args.synthetic:
        data["synthetic"]["train_groups"] = sum(g.source == "synthetic" for g in train_groups)

    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    from askdocs.models import resolve_embedder

    torch.manual_seed(args.seed)  # the untrained head is random; seed it so this number is reproducible
    untrained = CrossEncoder(resolve_embedder(BASE), num_labels=1, max_length=args.max_length, device="cpu")
    acc_before = held_out_accuracy(untrained, held)
    del untrained
    result = train(train_groups, args)
    acc_after = held_out_accuracy(load_for_cpu(args.out, args.max_length), held)
    try:
        smoke: dict = smoke_ndcg(args.out, args.max_length)
        print(
            f"smoke set nDCG@10: {json.dumps(smoke)}"
            + (" (fused LOSES to retrieval alone)" if fused_loses(smoke) else ""),
            flush=True,
        )
    except Exception as error:  # noqa: BLE001 - the model is saved; its records must be too
        smoke = {"error": f"{type(error).__name__}: {error}"}
        print(f"smoke set check failed: {smoke['error']}", file=sys.stderr, flush=True)
    total = round(time.perf_counter() - started, 1)
    given = argv if argv is not None else sys.argv[1:]
    command = "python -m tuning.train_reranker " + " ".join(given)
    card_data = {
        "command": command,
        "source": deb,
        "base_model": BASE,
        "data": data,
        "held_out_groups": len(held),
        "train_groups": len(train_groups),
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "training": result,
        "held_out_accuracy": {"before": acc_before, "after": acc_after},
        "smoke_ndcg_at_10": smoke,
        "total_seconds": total,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    (args.out / "training.json").write_text(json.dumps(card_data, indent=2) + "\n", "utf-8")
    write_card(args.out)
    print(
        json.dumps(
            {
                "training": result,
                "held_out_accuracy": card_data["held_out_accuracy"],
                "smoke_ndcg_at_10": smoke,
                "total_s": total,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
