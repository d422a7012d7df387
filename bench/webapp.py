"""Starting the real web app for the browser tests and the load benchmark.

``python -m app`` (``streamlit run app/main.py`` as ``make run`` starts it) on a free loopback port, from the project folder (for
``.streamlit/config.toml``), on a data folder of its own, with the models read from a shared
converted-model cache. ``index_folder`` fills that data folder first with ``python -m ingest``,
exactly as the README does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from askdocs.localserver import free_port, running_server

ROOT = Path(__file__).resolve().parents[1]
# The browser the UI tests and the load benchmark drive: Debian's chromium (Playwright's own download
# cannot work offline), headless, with nothing that would reach the network on its own.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLACEHOLDER = "Ask a question about the documents"  # the Ask page's chat input


def app_environment(data_dir: Path, model_cache: Path, extra: Mapping[str, str] = {}) -> dict[str, str]:
    return {
        "ASKDOCS_DATA_DIR": str(data_dir),
        "ASKDOCS_MODEL_CACHE": str(model_cache),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        **extra,
    }


def index_folder(folder: Path, environment: Mapping[str, str]) -> str:
    """Ingest ``folder`` with the CLI in a child process; returns its output, raises if it failed."""
    done = subprocess.run(
        [sys.executable, "-m", "ingest", str(folder)],
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m ingest failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass(frozen=True)
class RunningApp:
    url: str
    process: subprocess.Popen
    log: Path

    def _stat_fields(self) -> list[str]:
        return Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (all its threads), from /proc."""
        fields = self._stat_fields()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def rss_bytes(self) -> int:
        """The server process's resident memory now."""
        return int(self._stat_fields()[21]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def streamlit_app(environment: Mapping[str, str], log: Path) -> Iterator[RunningApp]:
    port = free_port()
    # running_server takes no cwd or env: GNU env sets both and execs python (stopping it stops streamlit).
    args = [
        "env",
        "-C",
        str(ROOT),
        *(f"{key}={value}" for key, value in environment.items()),
        sys.executable,
        "-m",
        "app",  # the launcher `make run` uses
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    ]
    with running_server(args, port, log, timeout_s=120) as process:
        yield RunningApp(f"http://127.0.0.1:{port}", process, log)
