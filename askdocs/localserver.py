"""Starting and stopping a helper server on loopback (Chroma, llama.cpp's OpenAI-compatible server).

Used by the tests and the benchmarks, which talk to real servers: each one is started on a free
127.0.0.1 port, waited for until it accepts connections, and always stopped afterwards.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: Sequence[str], port: int, log: Path, timeout_s: float = 60) -> subprocess.Popen:
    """Start ``args`` with its output in ``log`` and wait until ``port`` accepts connections."""
    with log.open("w") as handle:
        process = subprocess.Popen(list(args), stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    stop_server(process)
    raise RuntimeError(
        f"{args[0]} did not listen on port {port} within {timeout_s:g} s:\n{log.read_text()[-2000:]}"
    )


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_server(
    args: Sequence[str], port: int, log: Path, timeout_s: float = 60
) -> Iterator[subprocess.Popen]:
    process = start_server(args, port, log, timeout_s)
    try:
        yield process
    finally:
        stop_server(process)
