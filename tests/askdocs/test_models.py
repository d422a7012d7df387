"""askdocs.models: spec parsing, checksum gate and caches (unit); real packaged models (integration)."""

from __future__ import annotations

import hashlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from askdocs import models
from askdocs.models import PACKAGED, ModelUnavailable, PackagedModel

GOOD = b"GGUF" + bytes(range(256)) * 64


@pytest.fixture()
def fake_pkgs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Importable fake model packages: one shipping a whole file, two shipping one part each."""
    site = tmp_path / "site"
    (site / "fake_whole").mkdir(parents=True)
    (site / "fake_whole" / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (site / "fake_whole" / "tiny.gguf").write_bytes(GOOD)
    halves = (GOOD[:1000], GOOD[1000:])
    for i, half in enumerate(halves, 1):
        (site / f"fake_part{i}" / "data").mkdir(parents=True)
        (site / f"fake_part{i}" / "data" / "part.bin").write_bytes(half)
        (site / f"fake_part{i}" / "__init__.py").write_text(
            "import os\ndef get_part_path():\n"
            "    return os.path.join(os.path.dirname(__file__), 'data', 'part.bin')\n")
    monkeypatch.syspath_prepend(str(site))
    sha = hashlib.sha256(GOOD).hexdigest()
    common = dict(role="generator", licence="test", context_length=64, sha256=sha)
    monkeypatch.setitem(PACKAGED, "fake-whole", PackagedModel(
        install="pip install fake-whole", modules=("fake_whole",), filename="tiny.gguf", **common))
    monkeypatch.setitem(PACKAGED, "fake-parts", PackagedModel(
        install="pip install fake-part1 fake-part2", modules=("fake_part1", "fake_part2"),
        filename="joined.gguf", **common))
    yield site
    for m in ("fake_part1", "fake_part2"):
        sys.modules.pop(m, None)


@pytest.fixture()
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = models._read_chunks

    def counting(paths, size=1 << 22):
        calls.append(1)
        return real(paths, size)

    monkeypatch.setattr(models, "_read_chunks", counting)
    return calls


@pytest.mark.unit
def test_is_packaged() -> None:
    assert models.is_packaged("pkg:all-minilm-l6-v2")
    assert not models.is_packaged("sentence-transformers/all-MiniLM-L6-v2")
    assert not models.is_packaged("/models/pkg:odd")


@pytest.mark.unit
@pytest.mark.parametrize("spec", ["Qwen/Qwen2.5-0.5B-Instruct", "/srv/models/my-model", "./rel/path"])
def test_other_specs_returned_unchanged(spec: str, tmp_path: Path) -> None:
    assert models.resolve_embedder(spec) == spec
    assert models.resolve_generator(spec, tmp_path) == spec
    assert not (tmp_path / "converted").exists()


@pytest.mark.unit
def test_unknown_or_wrong_role_packaged_name(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="pkg:all-minilm-l6-v2"):
        models.resolve_embedder("pkg:nope")
    with pytest.raises(ModelUnavailable, match="unknown packaged generator"):
        models.resolve_generator("pkg:all-minilm-l6-v2", tmp_path)


@pytest.mark.unit
def test_missing_package_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PACKAGED, "ghost", PackagedModel(
        role="generator", licence="x", context_length=1, install="pip install ghost-model==1.0",
        modules=("no_such_module_xyz",), filename="g.gguf", sha256="0" * 64))
    with pytest.raises(ModelUnavailable, match="pip install ghost-model==1.0"):
        models.packaged_gguf("pkg:ghost", tmp_path)


@pytest.mark.unit
def test_whole_file_verified_in_place_once(fake_pkgs: Path, tmp_path: Path, count_reads: list[int]) -> None:
    cache = tmp_path / "cache"
    path = models.packaged_gguf("pkg:fake-whole", cache)
    assert path == fake_pkgs / "fake_whole" / "tiny.gguf"  # used in place, not copied, not imported
    assert "fake_whole" not in sys.modules
    assert models.packaged_gguf("fake-whole", cache) == path
    assert len(count_reads) == 1  # the second call trusted the sidecar


@pytest.mark.unit
def test_corrupted_file_refused(fake_pkgs: Path, tmp_path: Path, count_reads: list[int]) -> None:
    cache = tmp_path / "cache"
    models.packaged_gguf("pkg:fake-whole", cache)
    gguf = fake_pkgs / "fake_whole" / "tiny.gguf"
    gguf.write_bytes(GOOD[:-1] + b"X")  # same size; the new mtime must trigger a re-check
    os.utime(gguf, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(ModelUnavailable, match="sha256.*reinstall with: pip install fake-whole"):
        models.packaged_gguf("pkg:fake-whole", cache)
    assert len(count_reads) == 2
    assert [p.name for p in (cache / "gguf").iterdir() if p.suffix == ".tmp"] == []


@pytest.mark.unit
def test_parts_joined_atomically_and_verified_once(
        fake_pkgs: Path, tmp_path: Path, count_reads: list[int]) -> None:
    cache = tmp_path / "cache"
    path = models.packaged_gguf("pkg:fake-parts", cache)
    assert path == cache / "gguf" / "joined.gguf" and path.read_bytes() == GOOD
    assert models.packaged_gguf("pkg:fake-parts", cache) == path
    assert len(count_reads) == 1


@pytest.mark.unit
def test_corrupted_part_leaves_no_file(fake_pkgs: Path, tmp_path: Path) -> None:
    (fake_pkgs / "fake_part2" / "data" / "part.bin").write_bytes(b"truncated")
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailable, match="corrupt"):
        models.packaged_gguf("pkg:fake-parts", cache)
    leftovers = [p.name for p in (cache / "gguf").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


@pytest.mark.unit
def test_concurrent_callers_join_once(fake_pkgs: Path, tmp_path: Path, count_reads: list[int]) -> None:
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: models.packaged_gguf("pkg:fake-parts", cache), range(4)))
    assert len(set(paths)) == 1 and len(count_reads) == 1


@pytest.mark.unit
def test_conversion_is_atomic_and_done_once(
        fake_pkgs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, calls = tmp_path / "cache", []

    def crash(gguf: Path, dest: Path) -> None:
        (dest / "config.json").write_text("{}")
        raise RuntimeError("killed mid-conversion")

    def fine(gguf: Path, dest: Path) -> None:
        calls.append(gguf)
        (dest / "config.json").write_text("{}")

    monkeypatch.setattr(models, "_convert", crash)
    with pytest.raises(RuntimeError):
        models.resolve_generator("pkg:fake-whole", cache)
    assert [p.name for p in (cache / "converted").iterdir() if not p.name.endswith(".lock")] == []
    monkeypatch.setattr(models, "_convert", fine)
    folder = Path(models.resolve_generator("pkg:fake-whole", cache))
    assert folder == cache / "converted" / "fake-whole" and (folder / "config.json").is_file()
    assert models.resolve_generator("pkg:fake-whole", cache) == str(folder)
    assert calls == [fake_pkgs / "fake_whole" / "tiny.gguf"]


@pytest.mark.unit
def test_registry_is_consistent() -> None:
    for name, m in PACKAGED.items():
        assert m.role in ("embedder", "generator") and m.install.startswith("pip install")
        if m.role == "generator":
            assert m.filename.endswith(".gguf") and len(m.sha256) == 64, name


# --- integration: the real packaged models -------------------------------------------------------


@pytest.fixture(scope="module")
def smollm_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cache = tmp_path_factory.mktemp("models")
    return Path(models.resolve_generator("pkg:smollm2-135m-instruct", cache)), cache


def _ask(folder: Path, question: str) -> str:
    """Load a converted folder the default way and answer greedily, as the generator will."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(str(folder))
    tok = AutoTokenizer.from_pretrained(str(folder))
    assert lm.dtype == torch.float32  # half on disk, float32 by default for CPU
    assert tok.chat_template
    enc = tok.apply_chat_template([{"role": "user", "content": question}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = lm.generate(**enc, max_new_tokens=8, do_sample=False)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.integration
@pytest.mark.slow
def test_smollm2_converts_and_generates(smollm_folder: tuple[Path, Path]) -> None:
    assert "Paris" in _ask(smollm_folder[0], "What is the capital of France?")


@pytest.mark.integration
@pytest.mark.slow
def test_qwen_converts_and_generates() -> None:
    # The suite's shared cache: converted here (~75-95 s on 2 cores) or by whichever test needs it first.
    from tests.conftest import MODEL_CACHE

    folder = Path(models.resolve_generator("pkg:qwen2.5-coder-0.5b-instruct", MODEL_CACHE))
    assert "Paris" in _ask(folder, "What is the capital of France?")


@pytest.mark.integration
@pytest.mark.slow
def test_second_resolve_does_not_convert_again(smollm_folder: tuple[Path, Path]) -> None:
    folder, cache = smollm_folder
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert models.resolve_generator("pkg:smollm2-135m-instruct", cache) == str(folder)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert [p.name for p in folder.parent.iterdir() if ".tmp-" in p.name] == []


@pytest.mark.integration
def test_packaged_embedder_gives_384d_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    path = models.resolve_embedder("pkg:all-minilm-l6-v2")
    st = SentenceTransformer(path, device="cpu")
    vecs = st.encode(["a cat sits on the mat", "a kitten rests on a rug", "tax law"],
                     normalize_embeddings=True)
    assert vecs.shape == (3, 384)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
