"""The model card (``README.md``) of a reranker ``tuning.train_reranker`` trained, from its ``training.json``.

Written from the saved data card alone, never from the run's memory, so ``write_card`` can rewrite the
card of any past run (with ``extra`` metrics measured later) and the two files never disagree.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuning.smoke_check import card_line

CARD = """---
license: other
base_model: sentence-transformers/all-MiniLM-L6-v2
library_name: sentence-transformers
pipeline_tag: text-ranking
---
# reranker-minilm: askdocs' offline cross-encoder

A cross-encoder reranker trained by `tuning/train_reranker.py` from the transformer of
all-MiniLM-L6-v2 (the embedder askdocs ships), on query–passage pairs built from Debian's
`python3.11-doc` ({deb}), with hard negatives mined by askdocs' own BM25 and dense retrievers.
Weights are fp16 safetensors; `config.json` says `"dtype": "float32"`, so loaders cast them to fp32 for CPU.

## Data (see `training.json` for every number)
- Passage pool: sections of the library reference, tutorial, HOWTOs and language reference, cut at
  paragraphs into passages of at most 1,200 characters; {pool} passages.
- Queries: section headings (positive: the section's first passage), `.. index::` entries (positive:
  the passage right after the directive), and the Python FAQ's **dev** split questions (positive: each
  of their answer passages). FAQ **test** questions ({excluded} of them) and their answers are not used
  at all, not even as negatives. The Debian FAQ and the R manuals are not used.
- {synthetic}
- Candidate queries: {candidates}. Sampled: {sampled}. Groups (query, positive,
  {negatives} hard negatives): {groups}; {pairs} pairs.
- Hard negatives: interleaved top-30 hits of BM25 (bm25s, askdocs' tokenizer) and of all-MiniLM-L6-v2
  (dot product), minus the query's own section and anything with a positive's text; the top hit is
  skipped for heading and index queries (likely false negatives).

## Training
`{command}`

{steps} steps of {gps} queries × (1 positive + {negatives} negatives), BinaryCrossEntropyLoss
(pos_weight {negatives}), AdamW lr {lr}, 10 % warm-up then linear decay, max length {max_length} tokens,
word embeddings frozen: {freeze}. Seen {pairs_seen} pairs ({epochs} epochs) in {seconds} s
({rate} pairs/s) on {machine}; loss {loss0} → {loss1}. Whole command, data included: {total} s.

## Metrics
- Held-out groups (not trained on, {held_out} groups): positive ranked above all its hard negatives
  {acc_before:.1%} before training (untrained head), {acc_after:.1%} after.
{extra}
## Licence
The training text is the Python documentation © Python Software Foundation, under the PSF License
Agreement (its code examples also under Zero-Clause BSD), as shipped in Debian's `python3.11-doc`;
the base model all-MiniLM-L6-v2 is Apache-2.0. The trained weights are derived from both.
"""


def _counts(by_source: dict[str, int]) -> str:
    return ", ".join(f"{source} {n:,}" for source, n in sorted(by_source.items()))


def _synthetic_line(synthetic: dict) -> str:
    if not synthetic.get("requested"):
        return "Synthetic questions: none (`--synthetic 0`)."
    g = synthetic["generator"]
    rejected = ", ".join(f"{why} {n}" for why, n in synthetic["rejected"].items()) or "none"
    return (
        f"Synthetic questions (source `synthetic`): {g['model']} through {g['backend']} (`{g['name']}`) "
        f"wrote one question each for {synthetic['passages']:,} sampled pool passage(s) of the library, "
        f"tutorial, HOWTOs and language reference (never a FAQ passage); {synthetic['questions']:,} kept "
        f"after cleaning (dropped: {rejected}), {synthetic.get('train_groups', '?')} trained on; "
        "positive: the passage the question was written from."
    )


def write_card(out: Path, extra: str = "") -> None:
    """(Re)write ``README.md`` from ``training.json`` (``extra``: more metrics, as markdown lines)."""
    d = json.loads((out / "training.json").read_text("utf-8"))
    t, p, data = d["training"], d["parameters"], d["data"]
    if "smoke_ndcg_at_10" in d:  # runs before the check existed have none
        extra = card_line(d["smoke_ndcg_at_10"]) + extra
    (out / "README.md").write_text(
        CARD.format(
            deb=d["source"],
            pool=data["pool_passages"],
            excluded=data["faq_test_questions_excluded"],
            candidates=_counts(data["candidate_queries"]),
            sampled=_counts(data["sampled_queries"]),
            groups=_counts(data["groups"]),
            synthetic=_synthetic_line(data.get("synthetic", {})),
            pairs=data["pairs"],
            negatives=p["negatives"],
            command=d["command"],
            steps=t["steps"],
            gps=p["groups_per_step"],
            lr=p["lr"],
            max_length=p["max_length"],
            freeze=p["freeze_embeddings"],
            pairs_seen=t["pairs_seen"],
            epochs=t["epochs"],
            seconds=t["seconds"],
            rate=t["pairs_per_second"],
            machine=d["machine"],
            loss0=t["loss_first_10"],
            loss1=t["loss_last_10"],
            total=d["total_seconds"],
            held_out=d["held_out_groups"],
            acc_before=d["held_out_accuracy"]["before"],
            acc_after=d["held_out_accuracy"]["after"],
            extra=extra,
        ),
        "utf-8",
    )
