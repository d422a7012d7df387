"""The WordLlama backend: static token vectors (Llama 2 tokenizer, 256-d); a text's vector is their mean.

Design choices:
- That mean is the whole model, so it is done here in numpy on the package's two files rather than
  through ``wordllama``, whose import calls ``logging.basicConfig(INFO)`` on the root logger and whose
  loader fetches any file it lacks with ``requests``, ignoring ``HF_HUB_OFFLINE``. The tests compare our
  vectors with its ``WordLlamaInference``.
- Hundreds of times faster than MiniLM on a CPU (a lookup and a mean, no network) and weaker: word order
  is lost. A text with no tokens gets the zero vector.
- ``batch_size`` texts are tokenised per turn of the lock, so queries can interleave with ingestion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from askdocs.models import PACKAGED, PACKAGED_PREFIX, packaged_files
from retrieval.embedders.base import BaseEmbedder


class WordLlamaEmbedder(BaseEmbedder[str]):
    """An :class:`~retrieval.embedders.Embedder` on WordLlama's static token vectors.

    ``device`` and ``cache_dir`` are the factory's arguments and unused: a table lookup in numpy has no
    device to choose, and the package's files are used where pip put them.

    Example:
        >>> emb = WordLlamaEmbedder("pkg:wordllama-l2-supercat")  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 256)
    """

    def __init__(
        self,
        spec: str = "pkg:wordllama-l2-supercat",
        device: str = "cpu",
        batch_size: int = 32,
        cache_dir: Path | None = None,
    ) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer

        weights, tokenizer = packaged_files(spec)  # sha256-checked, used where pip put them
        with safe_open(str(weights), framework="np") as f:
            # float16 on disk (16 MB); float32 in memory (33 MB) keeps the sums exact enough and fast
            self._table = np.ascontiguousarray(f.get_tensor("embedding.weight"), dtype=np.float32)
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()  # a mean reads any length; the chunker keeps texts short
        if self._tokenizer.get_vocab_size() != self._table.shape[0]:
            raise ValueError(
                f"{spec}: tokenizer has {self._tokenizer.get_vocab_size()} tokens, "
                f"the table {self._table.shape[0]} rows"
            )
        super().__init__(spec, batch_size)
        self.dimension = int(self._table.shape[1])
        self.max_tokens = PACKAGED[spec.removeprefix(PACKAGED_PREFIX)].context_length

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        out = np.zeros((len(batch), self.dimension), dtype=np.float32)
        for row, encoding in enumerate(self._tokenizer.encode_batch(batch, add_special_tokens=False)):
            if encoding.ids:
                out[row] = self._table[encoding.ids].mean(axis=0)
        return out

    def _count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
