"""A causal LM run with transformers, on CUDA when present (in float16), else on the CPU in float32.

``generate()`` runs in a worker thread and hands its text to a ``TextIteratorStreamer`` that this
thread reads; a stopping criterion polls the base class's events between tokens. An error inside
``generate()`` ends the streamer and is raised again here once the worker has finished.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any, ClassVar

from askdocs.models import resolve_generator
from askdocs.settings import Settings
from generation.generators import Messages
from generation.generators.base import LocalGenerator


class TransformersGenerator(LocalGenerator):
    """A :class:`~generation.generators.Generator` running a causal LM with transformers."""

    failures: ClassVar[tuple[type[Exception], ...]] = (Exception,)  # whatever generate() raised in its thread

    def __init__(self, spec: str, cache_dir, device: str = "auto", context_window: int = 0) -> None:  # noqa: ANN001
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from retrieval.embedders import pick_device

        self.device = pick_device(device)
        path = resolve_generator(spec, cache_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.model = (
            AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
            .to(self.device)  # type: ignore[arg-type]  # transformers' stub: .to() takes a device
            .eval()
        )
        model_context = int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)
        super().__init__(f"local:{spec}", model_context, context_window)

    @classmethod
    def from_settings(cls, settings: Settings) -> TransformersGenerator:
        return cls(
            settings.generator_model, settings.model_cache_dir, settings.device, settings.context_window
        )

    def _count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def _encode_chat(self, messages: Messages) -> Any:  # noqa: ANN401 - a BatchEncoding
        return self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

    def _prompt_length(self, prompt: Any) -> int:  # noqa: ANN401
        return int(prompt["input_ids"].shape[-1])

    def _decode(  # noqa: ANN401 - prompt: the backend's own
        self, prompt: Any, max_tokens: int, temperature: float, should_stop: Callable[[], bool]
    ) -> Generator[str, None, None]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        class _StopOnEvent(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:  # noqa: ANN001, ANN003
                return should_stop()

        inputs = prompt.to(self.device)
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300
        )
        sampling = (
            {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        )
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self.model.generate(
                    **inputs,
                    max_new_tokens=max_tokens,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_StopOnEvent()]),
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                    **sampling,
                )
            except BaseException as error:  # surfaced to the caller below
                failure.append(error)
                streamer.end()

        worker = threading.Thread(target=run, name="generate", daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:
            worker.join()  # the base class has set its event first, so generate() ends at its next token
        if failure:
            raise failure[0]
