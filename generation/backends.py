"""Generator backends: a local transformers model, or any OpenAI-compatible API.

Both stream text pieces as they are produced and can be stopped mid-answer
through a ``threading.Event``. The local model is shared by every session of
the process, so generation is serialised with a lock: one answer at a time
uses the model (two at once would only share the same two cores anyway).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from askdocs.models import resolve_generator
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

        from retrieval.embedder import pick_device

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

        stop = stop or threading.Event()

        class _StopOnEvent(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:  # noqa: ANN001, ANN003
                return stop.is_set()

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
                stop.set()  # the consumer left early (stop button, closed session): end generation now
                worker.join()
                if not finished or failure:
                    log.info("local generation stopped early, after %d pieces", pieces)
            if failure:
                raise GeneratorUnavailable(f"local generation failed: {failure[0]}") from failure[0]


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


def generator_from_settings(settings: Settings) -> Generator:
    if settings.generator_backend == "openai":
        return OpenAICompatibleGenerator(
            settings.api_base_url, settings.api_model, settings.api_key.get_secret_value(),
            settings.api_timeout_s, settings.api_retries, settings.context_window, settings.api_connect_timeout_s,
        )
    return TransformersGenerator(
        settings.generator_model, settings.model_cache_dir, settings.device, settings.context_window
    )


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
