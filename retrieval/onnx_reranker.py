"""A sentence-transformers cross-encoder run by ONNX Runtime on the CPU, in float32 or dynamic int8.

Design choices:
- The export and int8 quantisation are the embedder's (``retrieval.onnx_embedder.exported`` with
  ``head="logits"``): the same fused attention, per-channel int8 weights, float32 activation products, and
  the same once-only cache in ``cache_dir/onnx``.
- Only one-logit folders (a relevance score per pair, as ms-marco cross-encoders) are supported. The score
  is that logit under the folder's own activation, as ``CrossEncoder.predict`` gives it: sigmoid unless
  the config names ``Identity``.
- Pairs are tokenised once, sorted by length and batched, so a batch pads to its neighbours' length;
  scores go back in the caller's order.
- ``max_length`` truncates each query + passage pair, as ``CrossEncoder(max_length=...)`` does: 128
  tokens costs roughly half of 256 and cuts only the tail of a long passage.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.onnx_embedder import Variant, exported

_SIGMOID = ("torch.nn.modules.activation.Sigmoid", "torch.nn.Sigmoid")
_IDENTITY = ("torch.nn.modules.linear.Identity", "torch.nn.Identity")


def _sigmoid_applies(config: dict) -> bool:
    """Whether ``CrossEncoder.predict`` would put a sigmoid on this folder's logit."""
    named = (config.get("sentence_transformers") or {}).get("activation_fn") \
        or config.get("sbert_ce_default_activation_function")
    if named is not None and named not in _SIGMOID + _IDENTITY:
        raise ValueError(f"cross-encoder activation {named!r} is not supported on ONNX (sigmoid or identity)")
    return named is None or named in _SIGMOID


class OnnxCrossEncoderReranker:
    """A :class:`~retrieval.rerank.Reranker` running a one-logit cross-encoder folder on ONNX Runtime.

    Example:
        >>> rr = OnnxCrossEncoderReranker("models/reranker", "int8", max_length=128)  # doctest: +SKIP
        >>> rr.score("capital of France", ["Paris is the capital.", "Bananas are yellow."])  # doctest: +SKIP
        [0.99, 0.01]
    """

    def __init__(self, spec_or_folder: str | Path, variant: Variant = "int8", max_length: int = 256,
                 batch_size: int = 32, cache_dir: Path | None = None, threads: int = 0) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        source = Path(spec_or_folder)
        config = json.loads((source / "config.json").read_text())
        if config.get("num_labels", len(config.get("id2label") or {0: ""})) != 1:
            raise ValueError(f"{source}: only one-logit cross-encoders are supported")
        self._sigmoid = _sigmoid_applies(config)
        if cache_dir is None:
            from askdocs.settings import load_settings

            cache_dir = load_settings().model_cache_dir
        folder = exported(str(source.resolve()), source, Path(cache_dir), variant, head="logits")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        self._session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self._names = {i.name for i in self._session.get_inputs()}
        self.tokenizer = AutoTokenizer.from_pretrained(str(source))
        self._pad_id = int(self.tokenizer.pad_token_id or 0)
        self.spec, self.variant, self.max_length, self.batch_size = str(spec_or_folder), variant, max_length, batch_size
        self._lock = threading.Lock()  # shared across sessions; fast tokenizers are not re-entrant

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        out = np.zeros(len(passages), dtype=np.float32)
        with self._lock:
            tokens = self.tokenizer([query] * len(passages), list(passages), truncation=True,
                                    max_length=self.max_length)
            ids, types = tokens["input_ids"], tokens.get("token_type_ids")
            order = np.argsort([len(i) for i in ids], kind="stable")  # little padding per batch
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                width = max(len(ids[r]) for r in rows)
                feed = {n: np.zeros((len(rows), width), dtype=np.int64)
                        for n in ("input_ids", "attention_mask", "token_type_ids") if n in self._names}
                feed["input_ids"][:] = self._pad_id
                for row, r in enumerate(rows):  # right padding, as the tokenizer's own
                    feed["input_ids"][row, :len(ids[r])] = ids[r]
                    feed["attention_mask"][row, :len(ids[r])] = 1
                    if "token_type_ids" in feed and types is not None:
                        feed["token_type_ids"][row, :len(ids[r])] = types[r]
                out[rows] = self._session.run(None, feed)[0][:, 0]
        if self._sigmoid:
            out = 1 / (1 + np.exp(-out))
        return [float(s) for s in out]
