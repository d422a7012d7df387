"""The composition root: every part built once from Settings, bad backends refused before anything opens."""

from __future__ import annotations

import threading

import pytest

from askdocs.registry import UnknownBackend
from askdocs.runtime import Runtime, check_backends
from tests.conftest import make_settings
from tests.fakes import HashingEmbedder
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "setting",
    ["store_backend", "embedder_backend", "reranker_backend", "generator_backend", "fast_generator_backend"],
)
def test_a_backend_no_registry_holds_fails_at_start_naming_the_setting(tmp_path, setting):
    settings = make_settings(tmp_path / "data", **{setting: "no-such-backend"})
    with pytest.raises(UnknownBackend, match=rf"ASKDOCS_{setting.upper()}='no-such-backend'.*choose one of"):
        check_backends(settings)
    with pytest.raises(UnknownBackend):
        Runtime(settings, embedder=HashingEmbedder())
    assert not (tmp_path / "data" / "chroma").exists()  # refused before the store was opened


def test_parts_are_built_once_and_shared_and_an_answer_comes_through_them(tmp_path):
    generator = ScriptedGenerator("Sorting is stable [1].")
    with Runtime(
        make_settings(tmp_path / "data"), embedder=HashingEmbedder(), generator=generator
    ) as runtime:
        queues = []
        threads = [threading.Thread(target=lambda: queues.append(runtime.jobs)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(q is runtime.jobs for q in queues) and runtime.ingestor is runtime.ingestor
        outcome = runtime.ingestor.ingest_bytes("sorting.md", b"# Sorting\n\nSorts are stable.\n", "default")
        assert outcome.status == "ingested"
        pipeline = runtime.pipeline()
        assert pipeline.cache is runtime.cache is not None and runtime.generator is generator
        answer = pipeline.ask("Are sorts stable?", collection="default")
        assert answer.text.startswith("Sorting is stable") and answer.citations[0].source == "sorting.md"


def test_a_part_still_loading_holds_up_only_those_who_need_it(tmp_path):
    with Runtime(make_settings(tmp_path / "data"), embedder=HashingEmbedder()) as runtime:
        loading, release = threading.Event(), threading.Event()

        def slow_model() -> ScriptedGenerator:
            loading.set()
            release.wait(10)
            return ScriptedGenerator("loaded")

        first = threading.Thread(target=lambda: runtime._once("generator", slow_model))
        first.start()
        assert loading.wait(5)
        queue_ready = threading.Event()
        threading.Thread(target=lambda: (runtime.jobs, queue_ready.set())).start()
        assert queue_ready.wait(5), "the upload queue waited for a model it does not need"
        release.set()
        first.join(5)
        assert runtime.generator.reply == "loaded"
