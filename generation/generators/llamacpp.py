"""A GGUF model run in-process with llama.cpp (``llama-cpp-python``), on the CPU.

A packaged ``pkg:`` model runs from its shipped GGUF file as it is (no conversion); anything else must be
a path to a ``.gguf`` file. The prompt is formatted with the chat template stored in the GGUF, as
llama.cpp's server does. llama.cpp keeps the previous prompt's KV cache and evaluates only what follows
the longest shared prefix, so the fixed system prompt is computed once, not on every question.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, cast

from askdocs.models import packaged_gguf
from askdocs.settings import Settings
from generation.generators import GeneratorUnavailable, Messages
from generation.generators.base import LocalGenerator

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage


class LlamaCppGenerator(LocalGenerator):
    """A :class:`~generation.generators.Generator` running a GGUF model with llama.cpp.

    Example:
        >>> gen = LlamaCppGenerator("pkg:smollm2-135m-instruct", Path(".askdocs/models"))  # doctest: +SKIP
        >>> "".join(gen.stream([{"role": "user", "content": "Hi"}], max_tokens=8))  # doctest: +SKIP
        'Hello! How can I help you today?'
    """

    def __init__(
        self,
        spec: str,
        cache_dir,
        context_window: int = 0,
        threads: int = 0,  # noqa: ANN001
        batch: int = 512,
        flash_attn: bool = True,
    ) -> None:
        import os

        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from askdocs.models import is_packaged

        path = str(packaged_gguf(spec, cache_dir)) if is_packaged(spec) else spec
        threads = threads or len(os.sched_getaffinity(0))
        # a small default context keeps the KV cache small (the model's own is 32k for Qwen2.5: ~400 MB);
        # 8192 holds the largest prompt the pipeline builds (ASKDOCS_MAX_PROMPT_TOKENS) and its answer
        self._llm = Llama(
            model_path=path,
            n_ctx=context_window or 8192,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=batch,
            n_ubatch=batch,
            flash_attn=flash_attn,
            verbose=False,
        )
        metadata = self._llm.metadata
        template = metadata.get("tokenizer.chat_template")
        if not template:
            raise GeneratorUnavailable(
                f"{path} carries no chat template; it cannot serve as a chat generator"
            )

        def token_text(key: str) -> str:
            token = metadata.get(key)
            return self._llm._model.token_get_text(int(token)) if token is not None else ""

        eos = self._llm.token_eos()
        self._format = Jinja2ChatFormatter(
            template,
            token_text("tokenizer.ggml.eos_token_id"),
            token_text("tokenizer.ggml.bos_token_id"),
            stop_token_ids=[eos],
        )
        # the context the model was trained for, capped by the one allocated
        super().__init__(f"llamacpp:{spec}", self._llm._model.n_ctx_train(), self._llm.n_ctx())

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppGenerator:
        return cls(
            settings.generator_model,
            settings.model_cache_dir,
            settings.context_window,
            settings.llamacpp_threads,
        )

    def _count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _encode_chat(self, messages: Messages) -> tuple[list[int], list[str]]:
        formatted = self._format(messages=cast("list[ChatCompletionRequestMessage]", list(messages)))
        tokens = self._llm.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        stop = (
            formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        )
        return tokens, stop

    def _prompt_length(self, prompt: tuple[list[int], list[str]]) -> int:
        return len(prompt[0])

    def _decode(
        self,
        prompt: tuple[list[int], list[str]],
        max_tokens: int,
        temperature: float,
        should_stop: Callable[[], bool],
    ) -> Generator[str, None, None]:
        from llama_cpp import StoppingCriteriaList

        tokens, stop_texts = prompt
        completion = self._llm.create_completion(
            tokens,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop_texts,
            stream=True,
            # checked between tokens, so a stop mid-answer ends decoding at the next token
            stopping_criteria=StoppingCriteriaList([lambda _ids, _logits: should_stop()]),
        )
        try:
            for event in completion:
                yield event["choices"][0]["text"]  # type: ignore[index]  # stream=True: chunks, not str keys
        finally:
            completion.close()  # type: ignore[union-attr]
