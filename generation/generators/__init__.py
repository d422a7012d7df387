"""Generators: the role's Protocol, its registry of backends, and the builders that read Settings.

A generator streams text pieces as they are produced and can be stopped mid-answer through a
``threading.Event``. Three backends ship: a local transformers model, a local llama.cpp model
(``generation.generators.base`` owns what the two local ones share: the lock, the stop handling and
the streaming loop), and any OpenAI-compatible API. :data:`GENERATORS` maps a backend's name to its
class, imported on first use, which builds itself from Settings (``from_settings``); adding a backend
is one module and one line here.

Two more values of ``ASKDOCS_GENERATOR_BACKEND`` are aliases, not backends: ``local`` is transformers
(kept for existing configurations), and ``auto`` picks llama.cpp in-process when ``llama_cpp`` is
installed and no CUDA GPU is present, else transformers: on this kind of CPU llama.cpp decodes 3-6x
faster from a quarter of the bytes, while on a GPU transformers runs the model in float16
(docs/benchmarks.md has the measurements).

Example:
    >>> from askdocs.settings import Settings
    >>> generator = generator_from_settings(Settings(generator_backend="llamacpp"))  # doctest: +SKIP
    >>> generator.name  # doctest: +SKIP
    'llamacpp:pkg:qwen2.5-coder-0.5b-instruct'
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from askdocs.registry import Registry, UnknownBackend
from askdocs.settings import Settings

Messages = Sequence[dict[str, str]]


class Generator(Protocol):
    name: str
    context_window: int

    def count_tokens(self, text: str) -> int: ...
    def prompt_tokens(self, messages: Messages) -> int: ...
    def stream(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float = 0.0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]: ...


class GeneratorBackend(Protocol):
    """What :data:`GENERATORS` holds: a class (or any object) that builds its generator from Settings."""

    # The Settings field naming this backend's model: generator_model for a local model, api_model for an API.
    # The fast tier's model goes into it, and only a backend reading generator_model serves as the local one.
    model_setting: str

    def from_settings(self, settings: Settings) -> Generator: ...


class GeneratorUnavailable(RuntimeError):
    """The backend cannot answer: the server is down, the model is missing, the key is wrong."""


GENERATORS: Registry[GeneratorBackend] = Registry(
    "generator backend",
    {
        "transformers": "generation.generators.transformers:TransformersGenerator",
        "llamacpp": "generation.generators.llamacpp:LlamaCppGenerator",
        "openai": "generation.generators.openai:OpenAICompatibleGenerator",
    },
)
ALIASES = ("local", "auto")  # resolved by local_backend, never registered
LOCAL_FALLBACK = "transformers"  # the local model when the backend setting names an API


def check_backend(name: str, setting: str = "generator_backend") -> str:
    """``name`` if it is a registered backend or an alias, else :class:`UnknownBackend` with the choices."""
    if name in ALIASES:
        return name
    try:
        return GENERATORS.check(name, setting)
    except UnknownBackend:
        choices = ", ".join(sorted((*GENERATORS.names(), *ALIASES)))
        where = f"{setting}={name!r}"
        raise UnknownBackend(f"{where} is not a known {GENERATORS.role}; choose one of: {choices}") from None


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
        return (
            "llamacpp" if importlib.util.find_spec("llama_cpp") is not None and not on_gpu else "transformers"
        )
    return "transformers" if requested == "local" else requested


def _backend(name: str, setting: str, device: str) -> GeneratorBackend:
    return GENERATORS.get(local_backend(check_backend(name, setting), device))


def generator_from_settings(settings: Settings) -> Generator:
    """The generator ``ASKDOCS_GENERATOR_BACKEND`` names (``UnknownBackend`` for a name no registry holds)."""
    return _backend(settings.generator_backend, "generator_backend", settings.device).from_settings(settings)


def local_generator_from_settings(settings: Settings) -> Generator:
    """The local model: the backend setting's (an alias resolved), or transformers when it names an API."""
    backend = _backend(settings.generator_backend, "generator_backend", settings.device)
    if backend.model_setting != "generator_model":  # an API: the local model is its fallback
        backend = GENERATORS.get(LOCAL_FALLBACK)
    return backend.from_settings(settings)


def api_generator_from_settings(settings: Settings) -> Generator:
    """The OpenAI-compatible API at ``ASKDOCS_API_BASE_URL``, whatever the backend setting (the UI's choice)."""
    return GENERATORS.get("openai").from_settings(settings)


def fast_generator_from_settings(settings: Settings) -> Generator | None:
    """The fast tier for routing (``generation.routing``), or None when no fast model is set.

    Built exactly like the main generator, from a copy of the settings naming the fast model, so it
    shares the API address, key, timeouts, device and context window.
    """
    check_backend(settings.fast_generator_backend, "fast_generator_backend")  # a typo fails even when unused
    if not settings.fast_generator_model:
        return None
    backend = _backend(settings.fast_generator_backend, "fast_generator_backend", settings.device)
    return generator_from_settings(
        settings.model_copy(
            update={
                "generator_backend": settings.fast_generator_backend,
                backend.model_setting: settings.fast_generator_model,
            }
        )
    )
