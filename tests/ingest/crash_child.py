"""The process ``test_crash_consistency.py`` kills: real ingestion that says where it is.

Usage: ``python tests/ingest/crash_child.py DOCS_FOLDER [--pause]`` with ASKDOCS_DATA_DIR set.

It loads the real embedder once, then ingests DOCS_FOLDER into the collection "default" with the
real Ingestor. Every write (store upsert, catalogue record, delete, BM25 publish, and inside the
publish the swap of CURRENT) prints ``write N NAME`` before it runs and ``done N`` after, so the
parent can kill it right before a write or a few milliseconds into one. With ``--pause`` it also waits for a line on stdin before
each write: the parent kills it there, or lets it go on. Nothing here changes what the writes do.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from askdocs.quiet import quiet_libraries  # noqa: E402
from askdocs.settings import load_settings  # noqa: E402
from ingest.pipeline import Ingestor  # noqa: E402
from retrieval import bm25 as bm25_module  # noqa: E402
from retrieval.factory import open_retrieval  # noqa: E402


def main(docs: Path, pause: bool) -> None:
    quiet_libraries()
    settings = load_settings()
    stack = open_retrieval(settings)
    count = [0]

    def announce(name: str, write):  # noqa: ANN001, ANN202 - wraps one bound method
        def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            count[0] += 1
            n = count[0]
            print(f"write {n} {name}", flush=True)
            if pause:
                sys.stdin.readline()
            result = write(*args, **kwargs)
            print(f"done {n}", flush=True)
            return result

        return wrapped

    for name in ("upsert", "put_document", "delete_document"):
        setattr(stack.store, name, announce(name, getattr(stack.store, name)))
    stack.bm25.publish = announce("publish", stack.bm25.publish)  # type: ignore[method-assign]
    # Inside the publish: the new version's files are written, CURRENT still names the old one.
    swap = announce("swap bm25", lambda: None)
    save = bm25_module.BM25Index.save

    def save_then_swap(index, folder):  # noqa: ANN001, ANN202
        save(index, folder)
        swap()

    bm25_module.BM25Index.save = save_then_swap  # type: ignore[method-assign]
    print("ready", flush=True)
    ingestor = Ingestor(stack.store, stack.embedder, stack.bm25, settings)
    outcomes = ingestor.ingest_paths([docs], "default")
    print("finished " + " ".join(f"{o.source}={o.status}" for o in outcomes), flush=True)
    stack.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--pause" in sys.argv[2:])
