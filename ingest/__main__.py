"""Command line: ``python -m ingest PATH... [--collection NAME] [--delete DOC] [--list]``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from askdocs.quiet import quiet_libraries
from askdocs.settings import load_settings

if TYPE_CHECKING:
    from retrieval.stores import DocumentCatalogue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description="Add, list or delete documents.")
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders to ingest")
    parser.add_argument("--collection", help="collection name (default: ASKDOCS_DEFAULT_COLLECTION)")
    parser.add_argument(
        "--delete", metavar="DOC", action="append", default=[], help="delete a document by name or id"
    )
    parser.add_argument("--list", action="store_true", help="list the stored documents")
    args = parser.parse_args(argv)
    if not (args.paths or args.delete or args.list):
        parser.error("give files or folders to ingest, --delete DOC or --list")

    quiet_libraries()
    settings = load_settings()
    collection = args.collection or settings.default_collection
    from askdocs.runtime import open_for_command_line

    runtime = open_for_command_line(settings)
    if runtime is None:
        return 2
    try:
        # This process holds the store's lock: repair what an interrupted run left (retrieval.consistency).
        report = runtime.repair()
        if not report.consistent or report.repaired:
            print(report.summary(), file=sys.stderr)
        ingestor = runtime.ingestor
        failed = False
        for name in args.delete:
            outcome = ingestor.delete(collection, name)
            print(outcome.line())
            failed |= outcome.status == "not found"
        if args.paths:
            missing = [p for p in args.paths if not p.exists()]
            for path in missing:
                print(f"{'refused':>9}  {path}  (no such file or folder)")
            outcomes = ingestor.ingest_paths(
                [p for p in args.paths if p.exists()],
                collection,
                on_outcome=lambda o: print(o.line(), flush=True),
                progress=sys.stderr.isatty(),
            )
            counts = {
                s: sum(o.status == s for o in outcomes)
                for s in ("ingested", "updated", "unchanged", "refused")
            }
            print(
                "summary: "
                + ", ".join(f"{n} {s}" for s, n in counts.items())
                + f" (collection {collection!r})"
            )
            failed |= bool(missing) or (bool(outcomes) and counts["refused"] == len(outcomes))
        if args.list:
            _print_documents(runtime.store, [collection] if args.collection else runtime.store.collections())
        return 1 if failed else 0
    finally:
        runtime.close()


def _print_documents(store: DocumentCatalogue, collections: list[str]) -> None:
    print(f"{'document':40} {'collection':12} {'pages':>5} {'chunks':>6}  ingested")
    for collection in collections:
        for d in store.documents(collection):
            when = dt.datetime.fromtimestamp(d.ingested_at).strftime("%Y-%m-%d %H:%M:%S")
            print(f"{d.source:40} {d.collection:12} {d.pages:>5} {d.chunks:>6}  {when}")


if __name__ == "__main__":
    raise SystemExit(main())
