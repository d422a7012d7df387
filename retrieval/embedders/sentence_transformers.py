"""The torch backend: a sentence-transformers model, from a ``pkg:`` name, a Hugging Face id or a folder.

Design choices:
- ``encode`` sorts a whole call by length before it batches, so this backend takes the call in one turn
  (``batches_itself``) and passes ``batch_size`` on: the batches are the library's own.
- ``count_tokens`` has a copy of the tokenizer with a lock of its own: the ingestion pipeline chunks the
  next file (which counts tokens all the time) while ``embed`` holds the model's lock for this one.
- Only a packaged model shipped as a split archive needs the cache (it is unpacked there once).
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np

from askdocs.models import resolve_embedder
from askdocs.settings import load_settings
from retrieval.embedders import pick_device
from retrieval.embedders.base import BaseEmbedder


class SentenceTransformerEmbedder(BaseEmbedder[str]):
    """An :class:`~retrieval.embedders.Embedder` backed by a sentence-transformers model.

    Example:
        >>> emb = SentenceTransformerEmbedder("pkg:all-minilm-l6-v2")  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 384)
    """

    batches_itself = True

    def __init__(
        self, spec: str, device: str = "auto", batch_size: int = 32, cache_dir: Path | None = None
    ) -> None:
        from sentence_transformers import SentenceTransformer

        super().__init__(spec, batch_size)
        cache = cache_dir if cache_dir is not None else load_settings().model_cache_dir
        self._model = SentenceTransformer(resolve_embedder(spec, cache), device=pick_device(device))
        self._counter, self._count_lock = copy.deepcopy(self._model.tokenizer), threading.Lock()
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ValueError(f"embedder {spec!r} does not report its embedding dimension")
        self.dimension = int(dimension)
        # max_seq_length counts the [CLS]/[SEP] (or <s>/</s>) that count_tokens leaves out
        specials = getattr(self._model.tokenizer, "num_special_tokens_to_add", lambda: 0)()
        # BUG?: max_seq_length is None for a model with no limit set; int(None) raises TypeError
        self.max_tokens = int(self._model.max_seq_length) - int(specials)  # type: ignore[arg-type]  # BUG?

    @property
    def tokenizer(self):  # noqa: ANN201 - a Hugging Face tokenizer; its type is not worth importing here
        return self._model.tokenizer

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        return self._model.encode(
            batch,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def _count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False))
