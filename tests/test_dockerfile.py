"""The Dockerfile cannot be built here (no Docker engine), so it is checked by reading it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_every_copied_path_exists():
    copies = [args.split()[:-1] for op, args in instructions() if op == "COPY"]
    assert copies
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repo"


def test_torch_is_installed_first_and_pinned_to_the_requirements_version():
    runs = [args for op, args in instructions() if op == "RUN" and "pip install" in args]
    assert "torch==" in runs[0] and "-r requirements.txt" not in runs[0]
    pinned = re.search(r"^torch==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and f"torch=={pinned.group(1)}" in runs[0]


def test_every_package_the_code_imports_from_the_repo_is_copied():
    copied = {args.split()[0].rstrip("/") for op, args in instructions() if op == "COPY"}
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in {"tests", "bench"}}
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_runs_unprivileged_offline_with_data_in_a_volume():
    ops = instructions()
    assert ("USER", "askdocs") in ops
    env = " ".join(args for op, args in ops if op == "ENV")
    assert "HF_HUB_OFFLINE=1" in env and "ASKDOCS_DATA_DIR=/data" in env
    entry = ROOT / "docker" / "entrypoint.sh"
    assert entry.stat().st_mode & 0o111, "the entrypoint must be executable"
