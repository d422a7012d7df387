"""Any OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, OpenAI) through the openai client.

The server's tokenizer is unknown here, so tokens are estimated from characters (over-counting, to keep
prompts inside the budget). An API key and any ``user:password@`` in the base URL are secrets: names,
error messages and everything displayed or stored go through :func:`without_credentials` and never
carry the key.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, cast

from askdocs.settings import Settings
from generation.generators import GeneratorUnavailable, Messages

if TYPE_CHECKING:
    import httpx
    from openai.types.chat import ChatCompletionMessageParam

DEFAULT_API_CONTEXT = 4096  # used when the API's model does not say, and ASKDOCS_CONTEXT_WINDOW is unset


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

    model_setting: ClassVar[str] = "api_model"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        timeout_s: float,
        retries: int,
        context_window: int = 0,
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

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatibleGenerator:
        return cls(
            settings.api_base_url,
            settings.api_model,
            settings.api_key.get_secret_value(),
            settings.api_timeout_s,
            settings.api_retries,
            settings.context_window,
            settings.api_connect_timeout_s,
        )

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
            text = f"no answer within {cast('httpx.Timeout', self._client.timeout).read:g} s"
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
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float = 0.0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        import openai

        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", list(messages)),  # role/content dicts
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
            )
        except openai.OpenAIError as error:
            raise GeneratorUnavailable(
                f"the API at {self.base_url} did not answer: {self._describe(error)}"
            ) from None
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
