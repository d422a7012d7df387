"""The parse child: run as ``python -I ingest/_parse_child.py``, one upload per process.

It imports the loaders and the libraries they name (``FileKind.preload``)
first (so a spare started ahead of time is warm), then reads one JSON header
line on stdin (``{"loader", "max_pages", "memory_mb"}``) followed by
the upload's bytes, parses them and writes one JSON object on stdout, so the
parent never unpickles anything this process produced:

    {"ok": true, "title": str, "paginated": bool, "pages": [[number, text], ...]}
    {"ok": false, "refused": reason}            RefusedInput from a loader
    {"ok": false, "memory": true}               MemoryError
    {"ok": false, "error": "Type: message"}     anything else

The memory limit (RLIMIT_AS) is set as soon as the header is read, before
the upload is. The ``ingest`` package is registered without running its
``__init__``, so the child imports only the loaders, whatever the package
grows to import. ``loader`` is the loader class the parent's registry holds
for the kind, as "package.module:Class" (built with ``max_pages``): the parent
decided the kind, so a kind registered only there (a test) parses here too.
As "path/to/file.py:Class" (built with no argument) it is a loader only tests
pass, to exercise hangs and crashes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
import types
from pathlib import Path

_INGEST_DIR = Path(__file__).resolve().parent


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _import_loaders() -> types.ModuleType:
    if "ingest.loaders" in sys.modules:
        return sys.modules["ingest.loaders"]
    sys.path.insert(0, str(_INGEST_DIR.parent))
    package = types.ModuleType("ingest")
    package.__path__ = [str(_INGEST_DIR)]
    sys.modules.setdefault("ingest", package)
    import ingest.loaders

    return ingest.loaders


def _preload() -> None:
    """Import every loader and what it imports lazily, while waiting for work; failures surface later."""
    try:
        for kind in _import_loaders().file_kinds():
            for module in kind.preload:
                importlib.import_module(module)
    except Exception:
        pass


def _loader(ref: str, max_pages: int) -> object:
    """The loader ``ref`` names: "package.module:Class" (registered) or "path/file.py:Class" (a test's)."""
    module_name, _, name = ref.rpartition(":")
    if not module_name.endswith(".py"):
        return getattr(importlib.import_module(module_name), name)(max_pages=max_pages)
    spec = importlib.util.spec_from_file_location("_askdocs_test_loader", module_name)
    assert spec is not None and spec.loader is not None, ref
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def _parse(max_pages: int, loader_ref: str, data: bytes) -> dict[str, object]:
    _import_loaders()
    from ingest.validate import RefusedInput

    try:
        document = _loader(loader_ref, max_pages).load(data)  # type: ignore[attr-defined]
    except RefusedInput as e:
        return {"ok": False, "refused": e.reason}
    return {
        "ok": True,
        "title": document.title,
        "paginated": document.paginated,
        "pages": [[page.number, page.text] for page in document.pages],
    }


def main() -> None:
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() in a library must not corrupt the result
    _preload()
    line = sys.stdin.buffer.readline()
    if not line:  # the parent went away without handing over a file
        os._exit(0)
    header = json.loads(line)
    _limit_memory(int(header["memory_mb"]))
    try:
        data = sys.stdin.buffer.read()
        result = _parse(int(header["max_pages"]), str(header["loader"]), data)
    except MemoryError:
        result = {"ok": False, "memory": True}
    except Exception as e:  # reported to the parent, which decides what the user sees
        result = {"ok": False, "error": f"{type(e).__name__}: {e}"[:500]}
    out.write(json.dumps(result, ensure_ascii=False).encode("utf-8", "replace"))
    out.flush()
    sys.stderr.flush()
    os._exit(0)  # everything is written; skip tearing down pypdf, lxml and the parsed tree


if __name__ == "__main__":
    main()
