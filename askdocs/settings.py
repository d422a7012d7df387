"""One typed settings object, read from ``ASKDOCS_*`` environment variables.

``ASKDOCS_DATA_DIR`` moves every piece of state (Chroma, BM25 files, the
model cache, logs), so a test or a second user can isolate all of it with one
variable. Model settings take either one of the packaged offline models
(``pkg:NAME``, see ``askdocs.models``) or an ordinary Hugging Face id or local
path for users who are online.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RetrievalTuning(BaseModel):
    """Knobs of search and ranking, each chosen on a dev split (docs/evaluation.md).

    ``retrieval.hybrid.HybridConfig`` takes its defaults from here: one source for every default.
    """

    model_config = ConfigDict(frozen=True)

    bm25_candidates: int = Field(100, ge=1)
    dense_candidates: int = Field(100, ge=1)
    bm25_weight: float = Field(0.05, ge=0)  # chosen on the Python-FAQ dev split: docs/evaluation.md
    dense_weight: float = Field(1.0, ge=0)
    bm25_weight_code: float | None = Field(1.0, ge=0)  # also chosen on the dev split; "none": off
    rrf_k: int = Field(60, ge=1)
    rerank_candidates: int = Field(20, ge=1)
    top_k: int = Field(4, ge=1)
    # off: the reranker's order replaces retrieval's; rrf: the two are fused by reciprocal rank, which is
    # what our own trained reranker needs to help (docs/evaluation.md, "Fusing the reranker with retrieval")
    rerank_fusion: Literal["off", "rrf"] = "off"
    reranker_max_length: int = Field(256, ge=16, le=512)  # tokens of query + passage the reranker reads
    # Best dense cosine similarity below which the app answers "not in the documents" without asking
    # the model. On the sample set answerable questions score >= 0.46 and off-topic ones 0.31-0.33; the
    # evaluation suite is where this gets tuned.
    abstain_below: float = 0.35
    # ...unless the best BM25 chunk holds at least this share of the question's keywords.
    answer_keyword_coverage: float = Field(0.6, ge=0, le=1)

    @field_validator("bm25_weight_code", mode="before")
    @classmethod
    def _none_turns_code_weight_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "none", "off"}:
            return None
        return value


class ChunkingTuning(BaseModel):
    """How documents are cut, in the embedder's tokens."""

    model_config = ConfigDict(frozen=True)

    chunk_tokens: int = Field(200, ge=16)
    chunk_overlap_tokens: int = Field(30, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingTuning:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("ASKDOCS_CHUNK_OVERLAP_TOKENS must be smaller than ASKDOCS_CHUNK_TOKENS")
        return self


class AnswerTuning(BaseModel):
    """Knobs of the answer: its length, the prompt's budget, routing and the semantic cache."""

    model_config = ConfigDict(frozen=True)

    max_answer_tokens: int = Field(256, ge=1)
    context_window: int = Field(0, ge=0)  # 0: the generator's own
    # CPU prefill time grows with the prompt; top-k passages rarely need more than this.
    max_prompt_tokens: int = Field(3072, ge=256)
    temperature: float = Field(0.0, ge=0)
    route_long_words: int = Field(30, ge=1)  # a question this long counts as hard
    # A short factual question needs a short answer, and a small model that has said it tends to go on
    # (SmolLM2-135M ran to the 256-token limit on most sample questions): the fast tier's answer limit.
    fast_max_answer_tokens: int = Field(96, ge=1)
    # Semantic cache (generation/cache.py): a question whose embedding has at least this cosine similarity
    # to one already answered over the same collection, index version and access returns that answer.
    # 0 ("off"): no cache. 0.95 is chosen on paraphrase pairs of the sample questions (docs/benchmarks.md).
    cache_similarity: float = Field(0.95, ge=0, le=1)
    cache_entries: int = Field(1000, ge=1)  # answers kept per process (least recently used go first)

    @field_validator("cache_similarity", mode="before")
    @classmethod
    def _off_turns_the_cache_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"off", "none", ""}:
            return 0.0
        return value


class Settings(BaseSettings, RetrievalTuning, ChunkingTuning, AnswerTuning):
    """What an operator sets (paths, models and their backends, servers, limits), plus the tuning knobs.

    The knobs live in the three groups above; every field, of either kind, is read from its
    ``ASKDOCS_<NAME>`` variable, and ``docs/configuration.md`` lists them all.
    """

    model_config = SettingsConfigDict(env_prefix="ASKDOCS_", frozen=True, extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path.home() / ".askdocs")
    # Converted model weights; defaults to DATA_DIR/models. Tests share one across throwaway data dirs.
    model_cache: Path | None = None
    default_collection: str = "default"

    # Models
    embedder: str = "pkg:all-minilm-l6-v2"
    embed_batch_size: int = Field(32, ge=1)
    # What runs a sentence-transformers embedder: torch, or ONNX Runtime on the CPU in float32 or dynamic
    # int8 (exported once into the model cache). int8 vectors differ from float32 ones, so an index
    # remembers which it was built with (docs/benchmarks.md "Embedding speed" has the trade-off).
    # A name in retrieval.embedders.EMBEDDERS, which validates it when the embedder is built.
    embedder_backend: str = "torch"
    # A name in generation.generators.GENERATORS (transformers, llamacpp, openai), checked by its builders,
    # or an alias: local = transformers (kept for existing configurations); auto = llamacpp on a CPU-only
    # host with llama-cpp-python installed, else transformers
    generator_backend: str = "local"
    llamacpp_threads: int = Field(0, ge=0)  # 0: every core this process may use
    generator_model: str = "pkg:qwen2.5-coder-0.5b-instruct"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    reranker: str = ""  # empty: no reranking stage
    # What runs the reranker: torch, or ONNX Runtime in float32 or per-channel int8 (a local folder only;
    # exported once into the model cache). int8 at 128 tokens reranks 20 candidates ~4x faster than torch
    # at 256 (docs/evaluation.md, "Rerank latency").
    # A name in retrieval.rerankers.RERANKERS, which validates it when the reranker is built.
    reranker_backend: str = "torch"
    # Routing by need (generation/routing.py): with a fast generator set, simple questions go to it and
    # hard ones (comparisons, several questions, explanations, long ones) to the main generator above.
    # Empty: no routing. The backend's other settings (api_base_url, api_key, ...) are shared.
    fast_generator_model: str = ""
    fast_generator_backend: str = "local"  # the values of generator_backend

    # OpenAI-compatible API backend
    # Not in repr: a URL may carry user:password@ (shown elsewhere through without_credentials).
    api_base_url: str = Field("http://127.0.0.1:8000/v1", repr=False)
    api_model: str = "default"
    api_key: SecretStr = SecretStr("not-needed")
    api_timeout_s: float = Field(60.0, gt=0)  # longest wait for any read, so also between two streamed pieces
    api_connect_timeout_s: float = Field(5.0, gt=0)  # to open a connection: a dead host fails fast
    api_retries: int = Field(2, ge=0)  # on connection errors, timeouts, 429 and 5xx; never mid-stream

    # Monitoring (app/monitoring.py): one record per question in DATA_DIR/monitor.sqlite3.
    monitor_retention_days: float = Field(90.0, gt=0)
    monitor_max_records: int = Field(200_000, ge=100)
    monitor_store_questions: bool = False  # the question's text may hold personal data: off unless asked
    # USD per million tokens (input, output) by API model name, e.g. '{"gpt-4o-mini": [0.15, 0.6]}';
    # local models cost 0, an API model not listed is recorded at 0 and counted as unpriced.
    model_prices: dict[str, tuple[float, float]] = Field(default_factory=dict)

    # Safety options (generation/redaction.py): off by default, a document's contact address is often the answer.
    redact_pii: bool = False
    content_filter: str = ""  # "package.module:function", a str -> str every answer passes through

    # Questions a user may ask per minute in the app (0: no limit); see app/ratelimit.py.
    rate_limit_per_minute: int = Field(20, ge=0)

    # Storage. The store backend is a name in retrieval.stores.STORES, checked when the store opens.
    store_backend: str = "chroma"
    chroma_mode: Literal["embedded", "server"] = "embedded"
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8001

    # REST API (app/api/). Not ASKDOCS_API_*: those name the OpenAI-compatible generator backend.
    rest_host: str = "127.0.0.1"
    rest_port: int = Field(8502, ge=1, le=65535)
    rest_keys_file: Path | None = None  # hashed API keys; default DATA_DIR/api_keys.txt

    # Upload limits; parsing runs in a child process held to these.
    max_upload_mb: float = Field(50.0, gt=0)
    max_pages: int = Field(2000, ge=1)
    parse_timeout_s: float = Field(60.0, gt=0)
    parse_memory_mb: int = Field(1536, ge=64)
    # Files read, parsed and chunked ahead of the one being embedded (ingest/pipeline.py); 0: one at a time.
    ingest_prefetch: int = Field(2, ge=0, le=16)

    @field_validator("model_prices")
    @classmethod
    def _prices_are_not_negative(cls, value: dict[str, tuple[float, float]]) -> dict:
        if any(price < 0 for pair in value.values() for price in pair):
            raise ValueError("ASKDOCS_MODEL_PRICES: prices cannot be negative")
        return value

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def bm25_dir(self) -> Path:
        return self.data_dir / "bm25"

    @property
    def model_cache_dir(self) -> Path:
        return self.model_cache or self.data_dir / "models"

    @property
    def api_keys_path(self) -> Path:
        return self.rest_keys_file or self.data_dir / "api_keys.txt"

    @property
    def monitor_path(self) -> Path:
        return self.data_dir / "monitor.sqlite3"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
