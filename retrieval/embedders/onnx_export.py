"""A sentence-transformers folder exported to ONNX once, and run: shared by the ONNX embedder and reranker.

Design choices:
- sentence-transformers' own ONNX backend needs ``optimum-onnx``, whose only release pins transformers
  below 4.58 (we pin 5.x), so the export is done here: ``torch.onnx.export`` of the folder's transformer
  (eager attention, so ONNX Runtime's BERT optimizer can fuse it into its ``Attention`` kernel), then
  ``quantize_dynamic`` for int8. ``head="hidden"`` exports an embedder's last hidden state, ``"logits"`` a
  cross-encoder's class logits.
- int8 quantises only the weight matrices, per output channel: per-tensor scales cost MiniLM ~0.1 of
  cosine against float32 (mean 0.906 on manual pages), per-channel ones ~0.008 (mean 0.992); the two
  activation-by-activation products in attention stay float32 for the same reason.
- The export runs once, offline, from the local folder into ``cache_dir/onnx/NAME-VARIANT`` (built in a
  temp folder, marked complete, renamed; see ``askdocs.models.build_once``). The marker names the source
  weights' size and mtime, so a reinstalled model is exported again.
- Running: one CPU session with every core this process may use, fed right-padded batches of token ids
  (``Tokens``), as the tokenizer's own padding would be.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from askdocs.models import build_once

log = logging.getLogger(__name__)

Variant = Literal["fp32", "int8"]
Head = Literal["hidden", "logits"]  # an embedder's last hidden state, or a cross-encoder's class logits
_FORMAT = 1  # bump to re-export every cached model after a change to the export below
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


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
    tokens = AutoTokenizer.from_pretrained(str(source))(
        ["an example", "a longer example text"], padding=True, return_tensors="pt"
    )
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
        torch.onnx.export(
            Output().eval(),
            tuple(tokens[n] for n in names),
            str(raw),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    config = model.config
    optimized = optimize_model(
        str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    optimized.save_model_to_file(str(dest / "model.onnx"))
    raw.unlink()
    if variant == "int8":
        graph = onnx.load(str(dest / "model.onnx")).graph
        weights = {i.name for i in graph.initializer}
        # products of two activations (unfused attention) lose too much in int8: keep them float32
        keep = [n.name for n in graph.node if n.op_type == "MatMul" and not set(n.input) & weights]
        quantize_dynamic(
            str(dest / "model.onnx"),
            str(dest / "int8.onnx"),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=keep,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        os.replace(dest / "int8.onnx", dest / "model.onnx")


def exported(name: str, source: Path, cache_dir: Path, variant: Variant, head: Head = "hidden") -> Path:
    """The folder holding ``model.onnx`` for ``source`` in ``cache_dir``, exported on the first call only."""
    weights = next(
        (source / n for n in ("model.safetensors", "pytorch_model.bin") if (source / n).is_file()), source
    )
    stat = weights.stat()
    kind = "" if head == "hidden" else f"-{head}"  # embedders keep the cache names they always had
    stamp = f"{_FORMAT}{kind}:{variant}:{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    out = Path(cache_dir) / "onnx" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}{kind}-{variant}"
    out.parent.mkdir(parents=True, exist_ok=True)
    return build_once(
        out, {"source": str(source), "sha256": stamp}, lambda tmp: _export(source, tmp, variant, head)
    )


# one input's token ids and, for a pair, its token type ids (None: all zeros)
Tokens = tuple[Sequence[int], Sequence[int] | None]


def cpu_session(folder: Path, threads: int = 0):  # noqa: ANN201 - an onnxruntime.InferenceSession
    """``folder/model.onnx`` on the CPU provider, on ``threads`` threads (0: every core we may use)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    return ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])


def padded_feed(batch: Sequence[Tokens], names: Sequence[str], pad_id: int) -> dict[str, np.ndarray]:
    """The session's inputs for ``batch``, right-padded to its longest member, as the tokenizer pads."""
    width = max(len(ids) for ids, _ in batch)
    feed = {
        "input_ids": np.full((len(batch), width), pad_id, dtype=np.int64),
        "attention_mask": np.zeros((len(batch), width), dtype=np.int64),
    }
    if "token_type_ids" in names:
        feed["token_type_ids"] = np.zeros((len(batch), width), dtype=np.int64)
    for row, (ids, types) in enumerate(batch):
        feed["input_ids"][row, : len(ids)] = ids
        feed["attention_mask"][row, : len(ids)] = 1
        if types is not None and "token_type_ids" in feed:
            feed["token_type_ids"][row, : len(ids)] = types
    return feed
