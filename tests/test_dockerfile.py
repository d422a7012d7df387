"""The Dockerfile cannot be built here (no Docker engine), so it is checked by reading it.

The entrypoint and the healthcheck script are real programs, so they are also run: the healthcheck against
a real HTTP server here, the entrypoint in ``tests/test_deployment.py`` (it starts an API replica).
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from askdocs.localserver import free_port

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"


def instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [
        line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage, by the stage's ``AS`` name."""
    found: dict[str, list[tuple[str, str]]] = {}
    current = None
    for op, args in instructions():
        if op == "FROM":
            current = args.split()[-1]
            found[current] = []
        elif current is not None:
            found[current].append((op, args))
    return found


def build_args() -> dict[str, str]:
    return dict(args.split("=", 1) for op, args in instructions() if op == "ARG" and "=" in args)


def local_copies() -> list[list[str]]:
    """Sources of each COPY from the build context (not ``--from`` another stage)."""
    return [
        args.split()[:-1] for op, args in instructions() if op == "COPY" and not args.startswith("--from")
    ]


def test_every_copied_path_exists_and_is_sent_in_the_build_context():
    ignored = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    assert local_copies()
    for sources in local_copies():
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repo"
            parts = Path(source.rstrip("/")).parts
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            hit = [p for p in ignored for prefix in prefixes if fnmatch.fnmatch(prefix, p)]
            assert not hit, f"{source} is copied but .dockerignore leaves it out ({hit})"


def test_the_build_context_leaves_out_local_state_tests_and_secrets():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".askdocs", ".git", "tests", ".streamlit/secrets.toml"} <= ignored
    copied = {source for sources in local_copies() for source in sources}
    assert ".streamlit/" not in copied, (
        "copy only config.toml: a secrets.toml beside it must not reach the image"
    )


def test_two_stages_and_no_compiler_in_the_runtime_image():
    found = stages()
    assert list(found) == ["build", "runtime"]
    runtime = " ".join(args for _, args in found["runtime"])
    assert "apt-get install" not in runtime and "pip install" not in runtime
    assert "build-essential" in " ".join(args for _, args in found["build"])
    assert ("COPY", "--from=build /opt/venv /opt/venv") in found["runtime"]
    # Both stages on the same base, so the virtualenv's interpreter symlink resolves in the runtime stage.
    froms = [args.split()[0] for op, args in instructions() if op == "FROM"]
    assert froms == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", build_args()["PYTHON_IMAGE"])


def test_torch_is_installed_first_from_the_cpu_index_by_default_and_pinned_to_the_requirements_version():
    runs = [args for op, args in stages()["build"] if op == "RUN" and "pip install" in args]
    assert "torch==" in runs[0] and "-r requirements.txt" not in runs[0]
    pinned = re.search(r"^torch==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and f"torch=={pinned.group(1)}" in runs[0]
    assert "--index-url ${TORCH_INDEX_URL}" in runs[0]
    assert build_args()["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    # The GPU variant is this argument; the header documents it with a CUDA index of the same torch.
    assert re.search(r"--build-arg TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cu\d+", DOCKERFILE)


def test_every_package_the_code_imports_from_the_repo_is_copied():
    copied = {sources[0].rstrip("/") for sources in local_copies()}
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in {"tests", "bench"}}
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_runs_unprivileged_offline_with_data_in_a_volume_and_serves_web_and_api():
    ops = stages()["runtime"]
    assert ("USER", "askdocs") in ops
    env = " ".join(args for op, args in ops if op == "ENV")
    for setting in ("HF_HUB_OFFLINE=1", "ASKDOCS_DATA_DIR=/data", "ASKDOCS_REST_HOST=0.0.0.0"):
        assert setting in env
    exposed = {port for op, args in ops if op == "EXPOSE" for port in args.split()}
    assert {"8501", "8502"} <= exposed
    for script in (ENTRYPOINT, HEALTHCHECK):
        assert script.stat().st_mode & 0o111, f"{script.name} must be executable"


def test_the_entrypoint_is_valid_shell_and_has_a_command_for_each_service():
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)
    text = ENTRYPOINT.read_text()
    for command, runs in {
        "web": "python -m app ",
        "api": "python -m app.api",
        "index": "python -m ingest",
        "chroma": "chroma run",
    }.items():
        branch = re.search(rf"^\s*{command}\)\n(.*?);;", text, re.M | re.S)
        assert branch and runs in branch.group(1), f"the entrypoint's {command} runs {runs}"


class _Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        code = int(self.path.strip("/"))
        self.send_response(code)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("path", "exit_code"), [("/200", 0), ("/204", 0), ("/503", 1), ("/404", 1)])
def test_the_healthcheck_passes_on_2xx_only(path, exit_code):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        assert subprocess.run([sys.executable, str(HEALTHCHECK), url]).returncode == exit_code
    finally:
        server.shutdown()
        server.server_close()


def test_the_healthcheck_fails_when_nothing_listens():
    port = free_port()  # bound and released at once: nothing listens there
    assert (
        subprocess.run([sys.executable, str(HEALTHCHECK), f"http://127.0.0.1:{port}/health"]).returncode == 1
    )
