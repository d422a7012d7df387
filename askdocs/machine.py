"""What CPU a measurement ran on, for every benchmark's and training run's machine line.

ONNX Runtime's and llama.cpp's int8 kernels take other paths on AVX2 than on AVX-512 VNNI, so the
same model gives other scores and other speeds on the two (a cosine bound measured on one failed on
the other, issue 17): a number without the instruction set it came from cannot be compared.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# Best first: the first set the CPU has names it.
_SIMD = (
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx512f", "AVX-512"),
    ("avx_vnni", "AVX2 + AVX-VNNI"),
    ("avx2", "AVX2"),
    ("asimd", "NEON"),
)


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    text = cpuinfo if cpuinfo is not None else _read_cpuinfo()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def instruction_set(cpuinfo: str | None = None) -> str:
    """The widest vector instruction set the CPU offers, e.g. ``"AVX-512 VNNI"`` or ``"AVX2"``."""
    flags = cpu_flags(cpuinfo)
    return next((label for flag, label in _SIMD if flag in flags), "baseline")


def cpu_model(cpuinfo: str | None = None) -> str:
    text = cpuinfo if cpuinfo is not None else _read_cpuinfo()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name":
            return value.strip()
    return platform.processor() or platform.machine()


def cpu_line() -> str:
    """``"Intel(R) Xeon(R) Processor, AVX-512 VNNI, 2 cores"``: the CPU part of a machine line."""
    return f"{cpu_model()}, {instruction_set()}, {len(os.sched_getaffinity(0))} cores"


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
