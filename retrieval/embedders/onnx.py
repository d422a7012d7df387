"""The ONNX backends: a sentence-transformers embedder run by ONNX Runtime on the CPU, float32 or int8.

Design choices:
- The export, its int8 quantisation and its once-only cache are ``retrieval.embedders.onnx_export``'s.
  Pooling and normalisation stay in numpy: they are a few lines and read the folder's own
  ``1_Pooling/config.json``.
- int8 activations are quantised per batch (one scale per tensor), so a text's vector moves slightly with
  its batch companions: cosine >= 0.99 between a text embedded alone and in a batch.
- Length bucketing: texts are tokenised once, sorted by length and batched, so a batch pads to its
  neighbours' length rather than the longest text's; vectors go back in the caller's order.
- ``identity`` names what the vectors came from. float32 ONNX agrees with torch to ~1e-6 cosine, so it
  keeps the spec; int8 vectors differ, so it is ``SPEC#onnx-int8`` and an index built with one refuses
  the other (``retrieval.stores.base``).
- ONNX runs on the CPU only: the factories ``fp32`` and ``int8`` (``EMBEDDERS["onnx"]`` and
  ``["onnx-int8"]``) hand a CUDA device to the torch backend, with a warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from askdocs.models import PACKAGED_PREFIX, resolve_embedder
from retrieval.batching import by_length
from retrieval.embedders import EMBEDDERS, Embedder, EmbedderFactory, pick_device
from retrieval.embedders.base import BaseEmbedder
from retrieval.embedders.onnx_export import Tokens, Variant, cpu_session, exported, padded_feed

log = logging.getLogger(__name__)


def _pooling(folder: Path) -> str:
    modules = json.loads((folder / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise ValueError(
            f"{folder}: only Transformer + Pooling (+ Normalize) folders run on ONNX, not {kinds}"
        )
    config = json.loads((folder / modules[1]["path"] / "config.json").read_text())
    modes = [
        k.removeprefix("pooling_mode_").removesuffix("_token").removesuffix("_tokens")
        for k, on in config.items()
        if k.startswith("pooling_mode_") and on
    ]
    if modes not in (["mean"], ["cls"]):
        raise ValueError(f"{folder}: pooling {modes} is not supported on ONNX (mean or cls only)")
    return modes[0]


class OnnxEmbedder(BaseEmbedder[Tokens]):
    """An :class:`~retrieval.embedders.Embedder` running a sentence-transformers folder on ONNX Runtime.

    Example:
        >>> emb = OnnxEmbedder("pkg:all-minilm-l6-v2", "int8", cache_dir=Path(".askdocs/models"))  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(
        self,
        spec: str,
        variant: Variant = "int8",
        batch_size: int = 32,
        cache_dir: Path | None = None,
        threads: int = 0,
        bucketing: bool = True,
    ) -> None:
        from transformers import AutoTokenizer

        from askdocs.settings import load_settings

        super().__init__(spec, batch_size, identity=spec if variant == "fp32" else f"{spec}#onnx-{variant}")
        cache = Path(cache_dir if cache_dir is not None else load_settings().model_cache_dir)
        source = Path(resolve_embedder(spec, cache))
        self._pooling = _pooling(source)
        folder = exported(spec.removeprefix(PACKAGED_PREFIX), source, cache, variant)
        self._session = cpu_session(folder, threads)
        self._names = [i.name for i in self._session.get_inputs()]
        self.tokenizer = AutoTokenizer.from_pretrained(str(source))
        self._pad_id = int(self.tokenizer.pad_token_id or 0)
        self.variant, self.bucketing = variant, bucketing
        config = json.loads((source / "sentence_bert_config.json").read_text())
        self._max_length = int(config.get("max_seq_length") or self.tokenizer.model_max_length)
        self.max_tokens = self._max_length - self.tokenizer.num_special_tokens_to_add()
        self.dimension = int(json.loads((source / "config.json").read_text())["hidden_size"])

    def _prepare(self, texts: list[str]) -> list[Tokens]:
        ids = self.tokenizer(texts, truncation=True, max_length=self._max_length)["input_ids"]
        return [(i, None) for i in ids]

    def _order(self, items: Sequence[Tokens]) -> np.ndarray:
        if not self.bucketing:
            return np.arange(len(items))
        return by_length([ids for ids, _ in items])  # little padding

    def _embed_batch(self, batch: list[Tokens]) -> np.ndarray:
        feed = padded_feed(batch, self._names, self._pad_id)
        return self._pool(self._session.run(None, feed)[0], feed["attention_mask"])

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._pooling == "cls":
            return hidden[:, 0]
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def _count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))


def _on_the_cpu(variant: Variant, backend: str) -> EmbedderFactory:
    def build(spec: str, device: str, batch_size: int, cache_dir: Path | None) -> Embedder:
        if pick_device(device) == "cpu":
            return OnnxEmbedder(spec, variant, batch_size, cache_dir)
        log.warning("ASKDOCS_EMBEDDER_BACKEND=%s runs on the CPU only; using torch on %s", backend, device)
        return EMBEDDERS.get("torch")(spec, device, batch_size, cache_dir)

    return build


fp32 = _on_the_cpu("fp32", "onnx")
int8 = _on_the_cpu("int8", "onnx-int8")
