"""Turning text into vectors: one ``Embedder`` protocol, three implementations, one factory.

Design choices:
- ``load_embedder`` picks the class from the spec (a ``pkg:`` name's registry ``runtime``; anything else is
  sentence-transformers), so callers never name a class and the evaluation can loop over specs.
- ``SentenceTransformerEmbedder`` runs the packaged MiniLM and mpnet folders, any Hugging Face id (for
  users who are online) or a local folder.
- ``retrieval.onnx_embedder.OnnxEmbedder`` runs a sentence-transformers folder on ONNX Runtime (float32
  or int8), chosen by ``ASKDOCS_EMBEDDER_BACKEND``; on CUDA torch runs it whatever the setting says.
- ``WordLlamaEmbedder`` runs WordLlama's static token vectors: a text's vector is the mean of its tokens'
  rows. That is the whole model, so it is done here in numpy on the package's two files rather than
  through ``wordllama``, whose import calls ``logging.basicConfig(INFO)`` on the root logger and whose
  loader fetches any file it lacks with ``requests``, ignoring ``HF_HUB_OFFLINE``. The tests compare our
  vectors with its ``WordLlamaInference``.
- One model per process, shared by every caller. Hugging Face tokenizers raise "Already borrowed" when two
  threads use one at the same time, so every call into a tokenizer goes through a lock. ``count_tokens``
  has a copy of the tokenizer with a lock of its own: the ingestion pipeline chunks the next file (which
  counts tokens all the time) while ``embed`` holds the model's lock for this one.
- Vectors are L2-normalised float32, so that Chroma's cosine distance and a dot product agree.
- ``max_tokens`` is the longest text, counted by ``count_tokens``, that the model is meant to read:
  sentence-transformers drops the rest silently, WordLlama averages any length but was trained on 256.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from askdocs.models import PACKAGED, PACKAGED_PREFIX, embedder_runtime, packaged_files, resolve_embedder
from askdocs.settings import Settings, load_settings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    spec: str  # what it was loaded from, e.g. "pkg:all-minilm-l6-v2"
    # what the vectors came from: the spec, plus the runtime when it changes them ("...#onnx-int8");
    # an index built with one identity refuses another (retrieval.stores.base)
    identity: str
    dimension: int
    max_tokens: int  # longest text, in count_tokens units, the model is meant to read

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...
    def count_tokens(self, text: str) -> int: ...


def pick_device(preference: str) -> str:
    if preference != "auto":
        return preference
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_embedder(spec: str, device: str = "auto", batch_size: int = 32,
                  cache_dir: Path | None = None, backend: str = "torch") -> Embedder:
    """The embedder for ``spec``: a ``pkg:`` name (see ``askdocs.models.PACKAGED``), a HF id or a folder.

    ``backend`` ("torch", "onnx", "onnx-int8") chooses what runs a sentence-transformers model; the ONNX
    ones are CPU-only, so on CUDA torch runs it whatever was asked.

    Example:
        >>> emb = load_embedder("pkg:wordllama-l2-supercat")  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 256)
    """
    if embedder_runtime(spec) == "wordllama":
        return WordLlamaEmbedder(spec, batch_size)  # a table lookup in numpy: no device to choose
    if backend != "torch" and pick_device(device) == "cpu":
        from retrieval.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(spec, "int8" if backend == "onnx-int8" else "fp32", batch_size, cache_dir)
    if backend != "torch":
        log.warning("ASKDOCS_EMBEDDER_BACKEND=%s runs on the CPU only; using torch on %s", backend, device)
    return SentenceTransformerEmbedder(spec, device, batch_size, cache_dir)


def embedder_from_settings(settings: Settings) -> Embedder:
    embedder = load_embedder(settings.embedder, settings.device, settings.embed_batch_size,
                             settings.model_cache_dir, settings.embedder_backend)
    if settings.chunk_tokens > embedder.max_tokens:
        log.warning("ASKDOCS_CHUNK_TOKENS=%d is more than %s is meant to read (%d tokens)",
                    settings.chunk_tokens, settings.embedder, embedder.max_tokens)
    return embedder


class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by a sentence-transformers model.

    Example:
        >>> emb = SentenceTransformerEmbedder("pkg:all-minilm-l6-v2")  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(self, spec: str, device: str = "auto", batch_size: int = 32,
                 cache_dir: Path | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        self.spec = self.identity = spec
        self.batch_size = batch_size
        # only a packaged model shipped as a split archive needs the cache (it is unpacked there once)
        cache = cache_dir if cache_dir is not None else load_settings().model_cache_dir
        self._model = SentenceTransformer(resolve_embedder(spec, cache), device=pick_device(device))
        self._lock = threading.Lock()
        self._counter, self._count_lock = copy.deepcopy(self._model.tokenizer), threading.Lock()
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ValueError(f"embedder {spec!r} does not report its embedding dimension")
        self.dimension = int(dimension)
        # max_seq_length counts the [CLS]/[SEP] (or <s>/</s>) that count_tokens leaves out
        specials = getattr(self._model.tokenizer, "num_special_tokens_to_add", lambda: 0)()
        self.max_tokens = int(self._model.max_seq_length) - int(specials)

    @property
    def tokenizer(self):  # noqa: ANN201 - a Hugging Face tokenizer; its type is not worth importing here
        return self._model.tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        with self._count_lock:
            return len(self._counter.encode(text, add_special_tokens=False))


class WordLlamaEmbedder:
    """An :class:`Embedder` on WordLlama's static token vectors (Llama 2 tokenizer, 256-d).

    Hundreds of times faster than MiniLM on a CPU (a lookup and a mean, no network) and weaker: word order
    is lost. A text with no tokens gets the zero vector.

    Example:
        >>> emb = WordLlamaEmbedder("pkg:wordllama-l2-supercat")  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 256)
    """

    def __init__(self, spec: str = "pkg:wordllama-l2-supercat", batch_size: int = 32) -> None:
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
            raise ValueError(f"{spec}: tokenizer has {self._tokenizer.get_vocab_size()} tokens, "
                             f"the table {self._table.shape[0]} rows")
        self.spec = self.identity = spec
        self.batch_size = batch_size  # texts tokenised per turn of the lock, so queries can interleave
        self.dimension = int(self._table.shape[1])
        self.max_tokens = PACKAGED[spec.removeprefix(PACKAGED_PREFIX)].context_length
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            with self._lock:
                encodings = self._tokenizer.encode_batch(list(texts[start:start + self.batch_size]),
                                                         add_special_tokens=False)
            for row, encoding in enumerate(encodings, start):
                if encoding.ids:
                    out[row] = self._table[encoding.ids].mean(axis=0)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))
        return out

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
