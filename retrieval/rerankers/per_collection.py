"""Adapted rerankers on disk, and the one each collection uses at query time.

``tuning.adapt`` fine-tunes a reranker on one collection and saves it here; the retriever asks
:class:`CollectionRerankers` which reranker a collection gets.

Layout, under ``DATA_DIR/rerankers/<collection>/``:
- ``question-replies.jsonl`` (and its ``.lock``): the generator's raw replies by passage, generator and
  prompt, so a rerun asks only for passages it has not seen (``tuning.synthetic.ReplyCache``);
- ``runs/<run>/``: one adaptation each (the CrossEncoder folder, ``adapt.json``, ``questions.jsonl``),
  built in a ``runs/.tmp-*`` folder and renamed into place whole, so a crash leaves no half run;
- ``adopted.json``: ``{"run": ..., "max_length": ...}``, the run in use, replaced with ``os.replace``
  only after the run is complete. It is the one switch: until it changes, the previous model serves.
Only the adopted run and the newest one are kept (each holds ~45 MB of weights).

At query time the pointer is stat()ed on every search (one system call) and a model is loaded only
when it changed, so an adoption made by the app's background job applies to the next question. A
model that fails to load or to score a probe pair is logged once and the base reranker serves instead:
a broken folder never fails an answer.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from retrieval.rerankers import Reranker
from retrieval.rerankers.cross_encoder import CrossEncoderReranker
from retrieval.stores import COLLECTION_NAME, check_collection_name

log = logging.getLogger(__name__)
POINTER = "adopted.json"
REPORT = "adapt.json"
_STALE_TMP_S = 24 * 3600  # a staging folder this old belongs to a process that died


def collection_dir(root: Path, collection: str) -> Path:
    return root / check_collection_name(collection)


@contextmanager
def staging(folder: Path) -> Iterator[Path]:
    """A fresh ``runs/.tmp-*`` folder to build a run in; removed unless :func:`publish` moved it."""
    runs = folder / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=runs, prefix=".tmp-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def publish(tmp: Path, folder: Path, run: str, report: dict, adopt: bool, max_length: int) -> Path:
    """Write ``report`` into ``tmp``, rename it to ``runs/<run>``, then (if ``adopt``) point at it."""
    (tmp / REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    final = folder / "runs" / run
    tmp.rename(final)
    if adopt:
        _write_atomically(folder / POINTER, json.dumps({"run": run, "max_length": max_length}) + "\n")
    prune(folder)
    return final


def adopted_run(folder: Path) -> Path | None:
    """The adopted run's folder, or None."""
    try:
        run = json.loads((folder / POINTER).read_text("utf-8"))["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return folder / "runs" / str(run)


def prune(folder: Path) -> None:
    """Delete every run but the adopted and the newest, and staging folders left by dead processes."""
    runs = folder / "runs"
    if not runs.is_dir():
        return
    done = sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))
    keep = {adopted_run(folder), done[-1] if done else None}
    for path in done:
        if path not in keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in runs.glob(".tmp-*"):
        if time.time() - path.stat().st_mtime > _STALE_TMP_S:
            shutil.rmtree(path, ignore_errors=True)


def latest_report(folder: Path) -> dict | None:
    """``adapt.json`` of the newest run (adopted or not), for the admin page."""
    runs = sorted((folder / "runs").glob("[!.]*/" + REPORT)) if (folder / "runs").is_dir() else []
    try:
        return json.loads(runs[-1].read_text("utf-8")) if runs else None
    except (OSError, ValueError):  # edited or damaged by hand: the page shows no report rather than fail
        log.warning("unreadable adaptation report %s", runs[-1])
        return None


class CollectionRerankers:
    """Which reranker each collection uses: its adopted adaptation, else ``base`` (None: no reranking).

    Example:
        >>> rerankers = CollectionRerankers(settings.data_dir / "rerankers", base=None)  # doctest: +SKIP
        >>> rerankers.for_collection("handbook")  # doctest: +SKIP
        <retrieval.rerankers.cross_encoder.CrossEncoderReranker object at ...>
    """

    def __init__(
        self, root: Path, base: Reranker | None, *, load: Callable[[str, int], Reranker] | None = None
    ) -> None:
        self.root = root
        self.base = base
        # (model folder, max length) -> reranker; the app passes ``rerankers.load_reranker`` on its settings,
        # so an adapted model runs on the configured backend (int8 ONNX when the base does)
        self.load = load or (
            lambda folder, max_length: CrossEncoderReranker(folder, "cpu", max_length=max_length)
        )
        self._lock = threading.Lock()
        # by collection: (the pointer's mtime and size, its model or None when that failed)
        self._loaded: dict[str, tuple[tuple[int, int], Reranker | None]] = {}

    def for_collection(self, collection: str) -> Reranker | None:
        if not COLLECTION_NAME.match(collection):  # never a path outside the root
            return self.base
        pointer = self.root / collection / POINTER
        try:
            stat = pointer.stat()
        except OSError:  # nothing adopted
            return self.base
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:  # one load per change, however many sessions ask at once
            cached = self._loaded.get(collection)
            if cached is None or cached[0] != stamp:
                cached = (stamp, self._load(collection, pointer))
                self._loaded[collection] = cached
        return cached[1] or self.base

    def _load(self, collection: str, pointer: Path) -> Reranker | None:
        try:
            info = json.loads(pointer.read_text("utf-8"))
            folder = self.root / collection / "runs" / str(info["run"])
            model = self.load(str(folder), int(info["max_length"]))
            if len(model.score("probe", ["a probe passage"])) != 1:
                raise ValueError("the model gave no score")
        except Exception as error:  # noqa: BLE001 - any breakage means "serve with the base"
            log.error(
                "the adapted reranker of collection %r (%s) cannot be used, so the base reranker "
                "serves instead: %s: %s",
                collection,
                pointer,
                type(error).__name__,
                error,
            )
            return None
        log.info("collection %r reranks with its adapted model %s", collection, folder.name)
        return model
