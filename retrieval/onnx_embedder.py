"""A sentence-transformers embedder run by ONNX Runtime on the CPU, in float32 or dynamic int8.

Design choices:
- sentence-transformers' own ONNX backend needs ``optimum-onnx``, whose only release pins transformers
  below 4.58 (we pin 5.x), so the export is done here: ``torch.onnx.export`` of the folder's transformer
  (eager attention, so ONNX Runtime's BERT optimizer can fuse it into its ``Attention`` kernel), then
  ``quantize_dynamic`` for int8. Pooling and normalisation stay in numpy: they are a few lines and read
  the folder's own ``1_Pooling/config.json``.
- int8 quantises only the weight matrices, per output channel: per-tensor scales cost MiniLM ~0.1 of
  cosine against float32 (mean 0.906 on manual pages), per-channel ones ~0.008 (mean 0.992); the two
  activation-by-activation products in attention stay float32 for the same reason.
- int8 activations are quantised per batch (one scale per tensor), so a text's vector moves slightly with
  its batch companions: cosine >= 0.99 between a text embedded alone and in a batch.
- The export runs once, offline, from the local folder into ``cache_dir/onnx/NAME-VARIANT`` (built in a
  temp folder, marked complete, renamed; see ``askdocs.models.build_once``). The marker names the source
  weights' size and mtime, so a reinstalled model is exported again.
- Length bucketing: texts are tokenised once, sorted by length and batched, so a batch pads to its
  neighbours' length rather than the longest text's; vectors go back in the caller's order.
- ``identity`` names what the vectors came from. float32 ONNX agrees with torch to ~1e-6 cosine, so it
  keeps the spec; int8 vectors differ, so it is ``SPEC#onnx-int8`` and an index built with one refuses
  the other (``retrieval.stores.base``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from askdocs.models import PACKAGED_PREFIX, build_once, resolve_embedder

log = logging.getLogger(__name__)

Variant = Literal["fp32", "int8"]
Head = Literal["hidden", "logits"]  # an embedder's last hidden state, or a cross-encoder's class logits
_FORMAT = 1  # bump to re-export every cached model after a change to the export below
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _pooling(folder: Path) -> str:
    modules = json.loads((folder / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise ValueError(f"{folder}: only Transformer + Pooling (+ Normalize) folders run on ONNX, not {kinds}")
    config = json.loads((folder / modules[1]["path"] / "config.json").read_text())
    modes = [k.removeprefix("pooling_mode_").removesuffix("_token").removesuffix("_tokens")
             for k, on in config.items() if k.startswith("pooling_mode_") and on]
    if modes not in (["mean"], ["cls"]):
        raise ValueError(f"{folder}: pooling {modes} is not supported on ONNX (mean or cls only)")
    return modes[0]


def _export(source: Path, dest: Path, variant: Variant, head: Head = "hidden") -> None:
    """``dest/model.onnx`` from the transformer folder ``source``: optimised, int8 if asked.

    ``head="hidden"`` exports the encoder's ``last_hidden_state`` (embedders); ``"logits"`` exports a
    sequence-classification model's ``logits`` (cross-encoders).
    """
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    log.info("exporting %s to ONNX (%s), once", source, variant)
    auto = AutoModel if head == "hidden" else AutoModelForSequenceClassification
    output = "last_hidden_state" if head == "hidden" else "logits"
    model = auto.from_pretrained(str(source), attn_implementation="eager").eval()
    tokens = AutoTokenizer.from_pretrained(str(source))(["an example", "a longer example text"],
                                                        padding=True, return_tensors="pt")
    names = [n for n in _INPUTS if n in tokens]

    class Output(torch.nn.Module):  # keyword arguments, one output: what the exporter traces cleanly
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return getattr(self.model(**dict(zip(names, inputs))), output)

    raw = dest / "raw.onnx"
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "tokens"} for n in names}
    axes[output] = {0: "batch", 1: "tokens"} if head == "hidden" else {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(Output().eval(), tuple(tokens[n] for n in names), str(raw), input_names=names,
                          output_names=[output], dynamic_axes=axes, opset_version=17,
                          dynamo=False)
    config = model.config
    optimized = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size)
    optimized.save_model_to_file(str(dest / "model.onnx"))
    raw.unlink()
    if variant == "int8":
        graph = onnx.load(str(dest / "model.onnx")).graph
        weights = {i.name for i in graph.initializer}
        # products of two activations (unfused attention) lose too much in int8: keep them float32
        keep = [n.name for n in graph.node if n.op_type == "MatMul" and not set(n.input) & weights]
        quantize_dynamic(str(dest / "model.onnx"), str(dest / "int8.onnx"), weight_type=QuantType.QInt8,
                         per_channel=True, op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=keep,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(dest / "int8.onnx", dest / "model.onnx")


def exported(name: str, source: Path, cache_dir: Path, variant: Variant, head: Head = "hidden") -> Path:
    """The folder holding ``model.onnx`` for ``source`` in ``cache_dir``, exported on the first call only."""
    weights = next((source / n for n in ("model.safetensors", "pytorch_model.bin") if (source / n).is_file()),
                   source)
    stat = weights.stat()
    kind = "" if head == "hidden" else f"-{head}"  # embedders keep the cache names they always had
    stamp = f"{_FORMAT}{kind}:{variant}:{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    out = Path(cache_dir) / "onnx" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}{kind}-{variant}"
    out.parent.mkdir(parents=True, exist_ok=True)
    return build_once(out, {"source": str(source), "sha256": stamp},
                      lambda tmp: _export(source, tmp, variant, head))


class OnnxEmbedder:
    """An :class:`~retrieval.embedder.Embedder` running a sentence-transformers folder on ONNX Runtime.

    Example:
        >>> emb = OnnxEmbedder("pkg:all-minilm-l6-v2", "int8", cache_dir=Path(".askdocs/models"))  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(self, spec: str, variant: Variant = "int8", batch_size: int = 32,
                 cache_dir: Path | None = None, threads: int = 0, bucketing: bool = True) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        from askdocs.settings import load_settings

        cache = Path(cache_dir if cache_dir is not None else load_settings().model_cache_dir)
        source = Path(resolve_embedder(spec, cache))
        self._pooling = _pooling(source)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        folder = exported(spec.removeprefix(PACKAGED_PREFIX), source, cache, variant)
        self._session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self._names = [i.name for i in self._session.get_inputs()]
        self.tokenizer = AutoTokenizer.from_pretrained(str(source))
        self._pad_id = int(self.tokenizer.pad_token_id or 0)
        self.spec, self.variant, self.batch_size, self.bucketing = spec, variant, batch_size, bucketing
        self.identity = spec if variant == "fp32" else f"{spec}#onnx-{variant}"
        config = json.loads((source / "sentence_bert_config.json").read_text())
        self._max_length = int(config.get("max_seq_length") or self.tokenizer.model_max_length)
        self.max_tokens = self._max_length - self.tokenizer.num_special_tokens_to_add()
        self.dimension = int(json.loads((source / "config.json").read_text())["hidden_size"])
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            ids = self.tokenizer(list(texts), truncation=True, max_length=self._max_length)["input_ids"]
            order = (np.argsort([len(i) for i in ids], kind="stable") if self.bucketing  # little padding
                     else np.arange(len(ids)))
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                width = max(len(ids[r]) for r in rows)
                feed = {"input_ids": np.full((len(rows), width), self._pad_id, dtype=np.int64),
                        "attention_mask": np.zeros((len(rows), width), dtype=np.int64)}
                for row, r in enumerate(rows):  # right padding, as the tokenizer's own
                    feed["input_ids"][row, :len(ids[r])] = ids[r]
                    feed["attention_mask"][row, :len(ids[r])] = 1
                if "token_type_ids" in self._names:
                    feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
                hidden = self._session.run(None, feed)[0]
                out[rows] = self._pool(hidden, feed["attention_mask"])
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))
        return out

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._pooling == "cls":
            return hidden[:, 0]
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
