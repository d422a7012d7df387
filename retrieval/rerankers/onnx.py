"""The ONNX backends: a sentence-transformers cross-encoder run by ONNX Runtime on the CPU, float32 or int8.

Design choices:
- The export and int8 quantisation are the embedder's (``retrieval.embedders.onnx_export.exported`` with
  ``head="logits"``): the same fused attention, per-channel int8 weights, float32 activation products, and
  the same once-only cache in ``cache_dir/onnx``.
- Only one-logit folders (a relevance score per pair, as ms-marco cross-encoders) are supported. The score
  is that logit under the folder's own activation, as ``CrossEncoder.predict`` gives it: sigmoid unless
  the config names ``Identity``.
- Pairs are tokenised once, sorted by length and batched, so a batch pads to its neighbours' length;
  scores go back in the caller's order.
- ``max_length`` truncates each query + passage pair, as ``CrossEncoder(max_length=...)`` does: 128
  tokens costs roughly half of 256 and cuts only the tail of a long passage.
- The export reads a folder, so the factories ``fp32`` and ``int8`` (``RERANKERS["onnx"]`` and
  ``["onnx-int8"]``) refuse a hub id: it would need a download this backend does not do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from askdocs.settings import Settings
from retrieval.batching import by_length
from retrieval.embedders.onnx_export import Tokens, Variant, cpu_session, exported, padded_feed
from retrieval.rerankers import Reranker, RerankerFactory
from retrieval.rerankers.base import BaseReranker

_SIGMOID = ("torch.nn.modules.activation.Sigmoid", "torch.nn.Sigmoid")
_IDENTITY = ("torch.nn.modules.linear.Identity", "torch.nn.Identity")


def _sigmoid_applies(config: dict) -> bool:
    """Whether ``CrossEncoder.predict`` would put a sigmoid on this folder's logit."""
    named = (config.get("sentence_transformers") or {}).get("activation_fn") or config.get(
        "sbert_ce_default_activation_function"
    )
    if named is not None and named not in _SIGMOID + _IDENTITY:
        raise ValueError(f"cross-encoder activation {named!r} is not supported on ONNX (sigmoid or identity)")
    return named is None or named in _SIGMOID


class OnnxCrossEncoderReranker(BaseReranker[Tokens]):
    """A :class:`~retrieval.rerankers.Reranker` running a one-logit cross-encoder folder on ONNX Runtime.

    Example:
        >>> rr = OnnxCrossEncoderReranker("models/reranker", "int8", max_length=128)  # doctest: +SKIP
        >>> rr.score("capital of France", ["Paris is the capital.", "Bananas are yellow."])  # doctest: +SKIP
        [0.99, 0.01]
    """

    def __init__(
        self,
        spec_or_folder: str | Path,
        variant: Variant = "int8",
        max_length: int = 256,
        batch_size: int = 32,
        cache_dir: Path | None = None,
        threads: int = 0,
    ) -> None:
        from transformers import AutoTokenizer

        source = Path(spec_or_folder)
        config = json.loads((source / "config.json").read_text())
        if config.get("num_labels", len(config.get("id2label") or {0: ""})) != 1:
            raise ValueError(f"{source}: only one-logit cross-encoders are supported")
        self._sigmoid = _sigmoid_applies(config)
        if cache_dir is None:
            from askdocs.settings import load_settings

            cache_dir = load_settings().model_cache_dir
        super().__init__(str(spec_or_folder), batch_size)
        folder = exported(str(source.resolve()), source, Path(cache_dir), variant, head="logits")
        self._session = cpu_session(folder, threads)
        self._names = {i.name for i in self._session.get_inputs()}
        self.tokenizer = AutoTokenizer.from_pretrained(str(source))
        self._pad_id = int(self.tokenizer.pad_token_id or 0)
        self.variant, self.max_length = variant, max_length

    def _prepare(self, query: str, passages: list[str]) -> list[Tokens]:
        tokens = self.tokenizer(
            [query] * len(passages), passages, truncation=True, max_length=self.max_length
        )
        types = tokens.get("token_type_ids")
        return [(ids, types[r] if types is not None else None) for r, ids in enumerate(tokens["input_ids"])]

    def _order(self, items: Sequence[Tokens]) -> np.ndarray:
        return by_length([ids for ids, _ in items])  # little padding per batch

    def _score_batch(self, batch: list[Tokens]) -> np.ndarray:
        logits = self._session.run(None, padded_feed(batch, list(self._names), self._pad_id))[0][:, 0]
        return 1 / (1 + np.exp(-logits)) if self._sigmoid else logits


def _from_a_folder(variant: Variant) -> RerankerFactory:
    def build(spec: str, settings: Settings, max_length: int) -> Reranker:
        folder = Path(spec)
        if not (folder / "config.json").is_file():
            # the ONNX export reads a folder; a hub id would need a download this backend does not do
            raise ValueError(
                f"ASKDOCS_RERANKER_BACKEND={settings.reranker_backend} needs ASKDOCS_RERANKER to be a local model "
                f"folder, and {spec!r} is not one; use the torch backend for a Hugging Face id"
            )
        return OnnxCrossEncoderReranker(
            folder, variant, max_length=max_length, cache_dir=settings.model_cache_dir
        )

    return build


fp32 = _from_a_folder("fp32")
int8 = _from_a_folder("int8")
