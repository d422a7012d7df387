"""Generator backends: a local transformers model, a local llama.cpp model, or any OpenAI-compatible API.

All stream text pieces as they are produced and can be stopped mid-answer
through a ``threading.Event``. A local model is shared by every session of
the process, so generation is serialised with a lock: one answer at a time
uses the model (two at once would only share the same two cores anyway).

``ASKDOCS_GENERATOR_BACKEND=auto`` picks llama.cpp in-process when ``llama_cpp`` is installed and no CUDA
GPU is present, else transformers: on this kind of CPU llama.cpp decodes 3-6x faster from a quarter of the
bytes, while on a GPU transformers runs the model in float16 (docs/benchmarks.md has the measurements).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from askdocs.models import packaged_gguf, resolve_generator
from askdocs.settings import Settings

Messages = Sequence[dict[str, str]]
log = logging.getLogger("askdocs.generation")  # under "askdocs", so it reaches the terminal
DEFAULT_API_CONTEXT = 4096  # used when the API's model does not say, and ASKDOCS_CONTEXT_WINDOW is unset


class Generator(Protocol):
    name: str
    context_window: int

    def count_tokens(self, text: str) -> int: ...
    def prompt_tokens(self, messages: Messages) -> int: ...
    def stream(
        self, messages: Messages, max_tokens: int, temperature: float = 0.0, stop: threading.Event | None = None
    ) -> Iterator[str]: ...


class GeneratorUnavailable(RuntimeError):
    """The backend cannot answer: the server is down, the model is missing, the key is wrong."""


class TransformersGenerator:
    """A :class:`Generator` running a causal LM with transformers, on CUDA when present, else CPU."""

    def __init__(self, spec: str, cache_dir, device: str = "auto", context_window: int = 0) -> None:  # noqa: ANN001
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from retrieval.embedders import pick_device

        self.device = pick_device(device)
        path = resolve_generator(spec, cache_dir)
        self.name = f"local:{spec}"
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device).eval()
        model_context = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        self.context_window = min(model_context, context_window) if context_window else model_context
        # Re-entrant, so the thread that is streaming may still count tokens.
        self._lock = threading.RLock()

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _encode_chat(self, messages: Messages):  # noqa: ANN202 - a BatchEncoding
        return self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def prompt_tokens(self, messages: Messages) -> int:
        with self._lock:
            return int(self._encode_chat(messages)["input_ids"].shape[-1])

    def stream(
        self, messages: Messages, max_tokens: int, temperature: float = 0.0, stop: threading.Event | None = None
    ) -> Iterator[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        asked = stop or threading.Event()  # the caller's: set by the stop button, only ever read here
        left = threading.Event()  # set when the consumer has gone (or finished), to end generate() at once

        class _StopOnEvent(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:  # noqa: ANN001, ANN003
                return asked.is_set() or left.is_set()

        with self._lock:
            inputs = self._encode_chat(messages).to(self.device)
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300)
            sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
            failure: list[BaseException] = []

            def run() -> None:
                try:
                    self.model.generate(
                        **inputs, max_new_tokens=max_tokens, streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_StopOnEvent()]),
                        pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id, **sampling,
                    )
                except BaseException as error:  # surfaced to the caller below
                    failure.append(error)
                    streamer.end()

            worker = threading.Thread(target=run, name="generate", daemon=True)
            worker.start()
            pieces, finished = 0, False
            try:
                for piece in streamer:
                    if piece:
                        pieces += 1
                        yield piece
                finished = True
            finally:
                # The consumer may have left early (a closed session): end generation now. Not the caller's
                # event: a set one would tell the pipeline the user stopped this answer.
                left.set()
                worker.join()
                if not finished or failure:
                    log.info("local generation stopped early, after %d pieces", pieces)
            if failure:
                raise GeneratorUnavailable(f"local generation failed: {failure[0]}") from failure[0]


class LlamaCppGenerator:
    """A :class:`Generator` running a GGUF model in-process with llama.cpp (``llama-cpp-python``), on the CPU.

    A packaged ``pkg:`` model runs from its shipped GGUF file as it is (no conversion); anything else must be
    a path to a ``.gguf`` file. The prompt is formatted with the chat template stored in the GGUF, as
    llama.cpp's server does. llama.cpp keeps the previous prompt's KV cache and evaluates only what follows
    the longest shared prefix, so the fixed system prompt is computed once, not on every question.

    Example:
        >>> gen = LlamaCppGenerator("pkg:smollm2-135m-instruct", Path(".askdocs/models"))  # doctest: +SKIP
        >>> "".join(gen.stream([{"role": "user", "content": "Hi"}], max_tokens=8))  # doctest: +SKIP
        'Hello! How can I help you today?'
    """

    def __init__(self, spec: str, cache_dir, context_window: int = 0, threads: int = 0,  # noqa: ANN001
                 batch: int = 512, flash_attn: bool = True) -> None:
        import os

        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from askdocs.models import is_packaged

        path = str(packaged_gguf(spec, cache_dir)) if is_packaged(spec) else spec
        threads = threads or len(os.sched_getaffinity(0))
        # a small default context keeps the KV cache small (the model's own is 32k for Qwen2.5: ~400 MB);
        # 8192 holds the largest prompt the pipeline builds (ASKDOCS_MAX_PROMPT_TOKENS) and its answer
        self._llm = Llama(model_path=path, n_ctx=context_window or 8192, n_threads=threads,
                          n_threads_batch=threads, n_batch=batch, n_ubatch=batch, flash_attn=flash_attn, verbose=False)
        self.context_window = min(self._llm.n_ctx(), self._llm._model.n_ctx_train())
        metadata = self._llm.metadata
        template = metadata.get("tokenizer.chat_template")
        if not template:
            raise GeneratorUnavailable(f"{path} carries no chat template; it cannot serve as a chat generator")

        def token_text(key: str) -> str:
            token = metadata.get(key)
            return self._llm._model.token_get_text(int(token)) if token is not None else ""

        eos = self._llm.token_eos()
        self._format = Jinja2ChatFormatter(template, token_text("tokenizer.ggml.eos_token_id"),
                                           token_text("tokenizer.ggml.bos_token_id"), stop_token_ids=[eos])
        self.name = f"llamacpp:{spec}"
        self._lock = threading.RLock()  # re-entrant, so the thread that is streaming may still count tokens

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _encode_chat(self, messages: Messages) -> tuple[list[int], list[str]]:
        formatted = self._format(messages=list(messages))
        tokens = self._llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special,
                                    special=True)
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        return tokens, stop

    def prompt_tokens(self, messages: Messages) -> int:
        with self._lock:
            return len(self._encode_chat(messages)[0])

    def stream(
        self, messages: Messages, max_tokens: int, temperature: float = 0.0, stop: threading.Event | None = None
    ) -> Iterator[str]:
        from llama_cpp import StoppingCriteriaList

        asked = stop or threading.Event()  # the caller's: set by the stop button, only ever read here
        left = threading.Event()  # set when the consumer has gone (or finished), to end decoding at once
        with self._lock:
            tokens, stop_texts = self._encode_chat(messages)
            pieces, finished = 0, False
            try:
                completion = self._llm.create_completion(
                    tokens, max_tokens=max_tokens, temperature=temperature, stop=stop_texts, stream=True,
                    # checked between tokens, so a stop mid-answer ends decoding at the next token
                    stopping_criteria=StoppingCriteriaList([lambda _ids, _logits: asked.is_set() or left.is_set()]),
                )
                try:
                    for event in completion:
                        if asked.is_set():
                            break
                        if piece := event["choices"][0]["text"]:
                            pieces += 1
                            yield piece
                    finished = not asked.is_set()
                finally:
                    completion.close()  # type: ignore[union-attr]
            except (RuntimeError, ValueError) as error:  # llama_decode failures, a prompt over n_ctx
                raise GeneratorUnavailable(f"local generation failed: {error}") from error
            finally:
                left.set()  # the consumer may have left early (a closed session): end decoding now
                if not finished:
                    log.info("local generation stopped early, after %d pieces", pieces)


def without_credentials(url: str) -> str:
    """``url`` without a ``user:password@`` part, for anything displayed or stored."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@", r"\1", url)


def _secrets(api_key: str, base_url: str) -> tuple[str, ...]:
    """What must never be shown: the key, and the URL's credentials as sent (httpx turns them into Basic auth)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(base_url)
    found = [api_key]
    if parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
        found += [f"{user}:{password}", base64.b64encode(f"{user}:{password}".encode()).decode(), password]
    return tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True))


class OpenAICompatibleGenerator:
    """A :class:`Generator` for any OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI).

    Failure handling, each case tested against a real llama.cpp server behind a faulty proxy:
    - Timeouts: ``connect_timeout_s`` to open the connection, ``timeout_s`` for every read, which
      in a streamed answer is the longest silence allowed between two pieces; a slowed or hung
      server fails after that long instead of holding the session forever.
    - Retries: the openai client retries connection errors, timeouts, 408, 409, 429 and 5xx up to
      ``retries`` times with exponential backoff (honouring ``Retry-After``); other 4xx (a wrong key,
      a bad request) fail at once. A stream already under way is never retried: its pieces have
      been shown, and a second answer would not continue the first.
    - A stream that ends without a ``finish_reason`` was cut off, even when the connection closed
      cleanly: it raises like a broken stream, so the answer is marked incomplete.
    Every error message names the server without credentials and never carries the API key.
    """

    def __init__(
        self, base_url: str, model: str, api_key: str, timeout_s: float, retries: int, context_window: int = 0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        import openai

        self.base_url = without_credentials(base_url)
        self.name = f"api:{model}@{self.base_url}"  # shown in the UI and stored in runs
        self.model = model
        self.context_window = context_window or DEFAULT_API_CONTEXT
        self._secrets = _secrets(api_key, base_url)
        # A single float would also set the connect timeout to ``timeout_s`` (60 s to find a dead host).
        timeout = openai.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=retries)

    def count_tokens(self, text: str) -> int:
        # The server's tokenizer is unknown here; ~3 characters a token over-counts English
        # (≈4 for BPE vocabularies), which keeps prompts inside the budget.
        return max(1, -(-len(text) // 3))

    def prompt_tokens(self, messages: Messages) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def _describe(self, error: Exception) -> str:
        """A short, safe account of ``error``: its kind and status, never the key or URL credentials."""
        import openai

        if isinstance(error, openai.APITimeoutError):
            text = f"no answer within {self._client.timeout.read:g} s"
        elif isinstance(error, openai.APIConnectionError):
            text = "could not connect"
        elif isinstance(error, openai.APIStatusError):
            text = f"HTTP {error.status_code}: {str(error.message)[:200]}"
        else:
            text = type(error).__name__
        for secret in self._secrets:  # a server may echo them back ("Incorrect API key provided: sk-...")
            text = text.replace(secret, "***")
        return without_credentials(text)

    def stream(
        self, messages: Messages, max_tokens: int, temperature: float = 0.0, stop: threading.Event | None = None
    ) -> Iterator[str]:
        import openai

        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=list(messages), max_tokens=max_tokens,
                temperature=temperature, stream=True,
            )
        except openai.OpenAIError as error:
            raise GeneratorUnavailable(f"the API at {self.base_url} did not answer: {self._describe(error)}") from None
        finished = False
        try:
            for event in response:
                if stop is not None and stop.is_set():
                    return
                if event.choices and event.choices[0].delta and event.choices[0].delta.content:
                    yield event.choices[0].delta.content
                if event.choices and event.choices[0].finish_reason:
                    finished = True
        except openai.OpenAIError as error:
            raise GeneratorUnavailable(f"the API stream broke off: {self._describe(error)}") from None
        finally:
            response.close()
        if not finished:
            raise GeneratorUnavailable("the API stream ended before the answer was finished")


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def local_backend(requested: str, device: str = "auto") -> str:
    """``"llamacpp"`` or ``"transformers"`` for ``ASKDOCS_GENERATOR_BACKEND`` ``auto``, ``local`` or either name."""
    import importlib.util

    if requested == "auto":
        on_gpu = device == "cuda" or (device == "auto" and _has_cuda())
        return "llamacpp" if importlib.util.find_spec("llama_cpp") is not None and not on_gpu else "transformers"
    return "transformers" if requested == "local" else requested


def local_generator_from_settings(settings: Settings) -> Generator:
    """The local model: transformers or llama.cpp as the backend setting says (``openai``: its fallback)."""
    requested = "local" if settings.generator_backend == "openai" else settings.generator_backend
    if local_backend(requested, settings.device) == "llamacpp":
        return LlamaCppGenerator(settings.generator_model, settings.model_cache_dir, settings.context_window,
                                 settings.llamacpp_threads)
    return TransformersGenerator(
        settings.generator_model, settings.model_cache_dir, settings.device, settings.context_window
    )


def generator_from_settings(settings: Settings) -> Generator:
    if settings.generator_backend == "openai":
        return OpenAICompatibleGenerator(
            settings.api_base_url, settings.api_model, settings.api_key.get_secret_value(),
            settings.api_timeout_s, settings.api_retries, settings.context_window, settings.api_connect_timeout_s,
        )
    return local_generator_from_settings(settings)


def fast_generator_from_settings(settings: Settings) -> Generator | None:
    """The fast tier for routing (``generation.routing``), or None when no fast model is set.

    Built exactly like the main generator, from a copy of the settings naming the fast model, so it
    shares the API address, key, timeouts, device and context window.
    """
    if not settings.fast_generator_model:
        return None
    model_field = "api_model" if settings.fast_generator_backend == "openai" else "generator_model"
    return generator_from_settings(settings.model_copy(update={
        "generator_backend": settings.fast_generator_backend, model_field: settings.fast_generator_model,
    }))
