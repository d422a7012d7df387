"""SIGKILL during real ingestion: after the repair, every document is at its old or its new version.

A child process (``crash_child.py``) loads the real embedder and ingests with embedded Chroma; it
prints a marker before and after each write, and the test kills it (SIGKILL, the whole process
group) either paused right before a chosen write or a seeded few milliseconds after a write began,
so the kills land inside the write sequence, not in model loading. The run re-ingests a CHANGED
version of a stored document (old vs new), leaves one unchanged and adds a new one.

After each kill a fresh process view (store and BM25 opened anew) runs the start-up repair, and
the test checks: every document at exactly its old or its new version (chunk ids compared with
uninterrupted reference runs), BM25 and Chroma holding the same chunk ids, no duplicates, and the
store answering a vector and a keyword search. One kill is repaired by the CLI at its start, and
one by the real app's ``services()``, which then holds the store while a second CLI and a second
app try to write it.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from retrieval.bm25 import BM25Directory
from retrieval.consistency import repair
from retrieval.stores import store_from_settings
from tests.conftest import MODEL_CACHE, ROOT, SAMPLE_DOCS, make_settings
from tests.ingest.index_invariants import documents_by_source, index_problems

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHILD = Path(__file__).with_name("crash_child.py")
COL = "default"
CHANGED, UNCHANGED, ADDED = "ipaddress.txt", "birds.md", "zstd.md"
# Ingesting NEW over OLD writes these, in this order (files go in sorted order; birds.md writes nothing).
WRITES = [
    "upsert ipaddress",
    "put ipaddress",
    "delete old ipaddress",
    "upsert zstd",
    "put zstd",
    "delete old zstd",
    "publish bm25",
]
SWAP = len(WRITES) + 1  # announced inside "publish bm25": its files written, CURRENT not yet moved
BIRDS = "# Birds\n\nHerons and ibises wade in shallow water; this file never changes.\n"
TIMEOUT = 300  # seconds for one child, model loading included, on a busy machine


def env_for(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(data_dir),
        "ASKDOCS_MODEL_CACHE": str(MODEL_CACHE),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONPATH": str(ROOT),
    }


@dataclass(frozen=True)
class Run:
    """How far a child got: the last write announced and the last one finished (0: none)."""

    started: int
    done: int
    finished: bool
    output: str


def run_child(
    data_dir: Path, docs: Path, kill_before: int = 0, kill_after_ms: tuple[int, float] | None = None
) -> Run:
    """Run the child; kill it paused before write ``kill_before``, or ``ms`` after write ``n`` started."""
    args = [sys.executable, str(CHILD), str(docs)] + (["--pause"] if kill_before else [])
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env_for(data_dir),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    started = done = 0
    seen: list[str] = []
    try:
        while (line := lines.get(timeout=TIMEOUT)) is not None:
            seen.append(line)
            if line.startswith("write "):
                started = int(line.split()[1])
                if started == kill_before:
                    break  # paused at stdin, before the write: kill it there
                if kill_after_ms and started == kill_after_ms[0]:
                    threading.Event().wait(kill_after_ms[1] / 1000)
                    break
                if kill_before:
                    proc.stdin.write("go\n")  # type: ignore[union-attr]
                    proc.stdin.flush()  # type: ignore[union-attr]
            elif line.startswith("done "):
                done = int(line.split()[1])
        else:
            proc.wait(timeout=TIMEOUT)
            return Run(started, done, any(s.startswith("finished") for s in seen), "\n".join(seen))
        os.killpg(proc.pid, signal.SIGKILL)  # the child and its spare parse process: our own group
        proc.wait(timeout=30)
        while (line := lines.get(timeout=30)) is not None:  # markers printed before the kill landed
            seen.append(line)
            if line.startswith("write "):
                started = int(line.split()[1])
            elif line.startswith("done "):
                done = int(line.split()[1])
        assert proc.returncode == -signal.SIGKILL
        return Run(started, done, False, "\n".join(seen))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """The two document sets, and the store after each of them went in uninterrupted."""
    tmp = tmp_path_factory.mktemp("crash")
    old, new = tmp / "old-docs", tmp / "new-docs"
    for folder in (old, new):
        folder.mkdir()
        (folder / UNCHANGED).write_text(BIRDS)
    text = (SAMPLE_DOCS / "python_ipaddress_howto.txt").read_text()[:6000]  # ~8 chunks: embedding is the cost
    (old / CHANGED).write_text(text)
    # The new version drops the first fifth and rewrites a word throughout: some chunks keep their
    # text, most change, and every chunk id changes with the version.
    (new / CHANGED).write_text(text[len(text) // 5 :].replace("network", "subnet") + "\nA closing line.\n")
    shutil.copy(SAMPLE_DOCS / "zstd_README.md", new / ADDED)

    old_store, new_store = tmp / "old-store", tmp / "new-store"
    first = run_child(old_store, old)
    assert first.finished, first.output
    shutil.copytree(old_store, new_store)
    second = run_child(new_store, new)
    assert second.finished and second.done == len(WRITES), second.output
    assert f"{UNCHANGED}=unchanged {CHANGED}=updated {ADDED}=ingested" in second.output
    return {"old docs": old, "new docs": new, "old store": old_store, "new store": new_store}


def stored(data_dir: Path) -> dict[str, tuple[str, frozenset[str]]]:
    store = store_from_settings(make_settings(data_dir))
    try:
        return documents_by_source(store, COL)
    finally:
        store.close()


@pytest.fixture(scope="module")
def versions(folders) -> tuple[dict, dict]:
    old, new = stored(folders["old store"]), stored(folders["new store"])
    assert set(old) == {CHANGED, UNCHANGED} and set(new) == {CHANGED, UNCHANGED, ADDED}
    assert old[CHANGED][0] != new[CHANGED][0] and not old[CHANGED][1] & new[CHANGED][1]
    assert old[UNCHANGED] == new[UNCHANGED] and len(new[CHANGED][1]) > 5 and len(new[ADDED][1]) > 5
    return old, new


def killed_run(folders, tmp_path: Path, **kill) -> tuple[Run, Path]:  # noqa: ANN003
    """The old store, copied, with the new documents' ingestion killed as ``run_child`` is told."""
    data = tmp_path / "data"
    shutil.copytree(folders["old store"], data)
    run = run_child(data, folders["new docs"], **kill)
    assert not run.finished, f"the kill came too late:\n{run.output}"
    return run, data


def assert_old_or_new(data: Path, versions, run: Run) -> dict[str, str]:
    """Open the killed store as a restarted app would, repair, and check it; returns doc -> old/new/absent."""
    old, new = versions
    settings = make_settings(data)
    store = store_from_settings(settings)  # the lock died with the child
    try:
        bm25 = BM25Directory(settings.bm25_dir)
        report = repair(store, bm25)
        assert report.consistent, report.problems
        assert index_problems(store, bm25, COL) == []
        assert repair(store, BM25Directory(settings.bm25_dir)).repaired == ()  # repaired means repaired
        now = documents_by_source(store, COL)
        state = {}
        for name in (CHANGED, UNCHANGED, ADDED):
            choices = {"old": old.get(name), "new": new.get(name)}
            matches = [label for label, value in choices.items() if now.get(name) == value]
            assert matches, f"{name} is at neither its old nor its new version after {run}"
            state[name] = "absent" if now.get(name) is None else matches[-1] if len(matches) == 1 else "same"
        # The commit point: a document is new exactly when its catalogue record was written.
        put_changed, put_added = WRITES.index("put ipaddress") + 1, WRITES.index("put zstd") + 1
        if run.done >= put_changed:
            assert state[CHANGED] == "new"
        if run.started < put_changed:
            assert state[CHANGED] == "old"
        if run.done >= put_added:
            assert state[ADDED] == "new"
        if run.started < put_added:
            assert state[ADDED] == "absent"
        assert state[UNCHANGED] == "same"
        # The store opens and answers both searches, with live chunks only.
        live = {cid for _, ids in now.values() for cid in ids}
        rng = np.random.default_rng(0)
        hits = store.query(COL, rng.normal(size=384).astype(np.float32), k=5)
        assert len(hits) == 5 and {c.chunk_id for c, _ in hits} <= live
        keyword = bm25.get(COL).search("herons ibises", 5)
        assert keyword and {h.chunk_id for h in keyword} <= live
        return state
    finally:
        store.close()


@pytest.mark.parametrize("write", [2, SWAP], ids=lambda n: "before " + [*WRITES, "swap bm25"][n - 1])
def test_a_kill_right_before_a_write_repairs_to_old_or_new(folders, versions, tmp_path, write):
    run, data = killed_run(folders, tmp_path, kill_before=write)
    assert (run.started, run.done) == (write, write - 1 if write != SWAP else write - 2)
    bm25_folder = data / "bm25" / COL
    live_bm25 = (bm25_folder / "CURRENT").read_text()
    state = assert_old_or_new(data, versions, run)
    if write == SWAP:  # the new BM25 version was on disk, unpublished: the old one was still live
        assert live_bm25 == (folders["old store"] / "bm25" / COL / "CURRENT").read_text()
        assert state == {CHANGED: "new", UNCHANGED: "same", ADDED: "new"}
    else:
        assert state == {CHANGED: "old", UNCHANGED: "same", ADDED: "absent"}


# Seeded delays after a write began, on the longer writes, each within what that write takes here
# (upserts and the old version's delete: tens of milliseconds), so most land inside the write; the
# markers say where each one landed and the checks follow them. (The BM25 publish is over before a
# delay can land in it, so its inside is reached by the pause before "swap bm25" above; the kill
# right before "delete old ipaddress" is in the command-line test below.)
_rng = random.Random(6)
KILLS_IN_WRITES = [(n, round(_rng.uniform(1, top), 1)) for n, top in ((1, 25), (3, 15), (4, 25))]


@pytest.mark.parametrize("kill_after_ms", KILLS_IN_WRITES, ids=lambda k: f"{k[1]}ms into {WRITES[k[0] - 1]}")
def test_a_kill_inside_a_write_repairs_to_old_or_new(folders, versions, tmp_path, kill_after_ms):
    run, data = killed_run(folders, tmp_path, kill_after_ms=kill_after_ms)
    assert run.started >= kill_after_ms[0]
    state = assert_old_or_new(data, versions, run)
    print(
        f"killed {kill_after_ms[1]} ms into write {kill_after_ms[0]}: started {run.started}, "
        f"done {run.done}; after repair {state}"
    )


def test_the_command_line_repairs_at_start_up(folders, versions, tmp_path):
    run, data = killed_run(folders, tmp_path, kill_before=WRITES.index("delete old ipaddress") + 1)
    cli = subprocess.run(
        [sys.executable, "-m", "ingest", "--list"],
        cwd=ROOT,
        env=env_for(data),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert cli.returncode == 0, cli.stderr
    # The new version's record was written; the old version's chunks and the stale BM25 were left.
    assert "index checked: repaired 2 problems" in cli.stderr
    assert CHANGED in cli.stdout and ADDED not in cli.stdout
    store = store_from_settings(make_settings(data))
    try:
        expected = {CHANGED: versions[1][CHANGED], UNCHANGED: versions[0][UNCHANGED]}
        assert documents_by_source(store, COL) == expected
        assert index_problems(store, BM25Directory(make_settings(data).bm25_dir), COL) == []
    finally:
        store.close()


def test_the_app_repairs_at_start_up_and_a_second_writer_gets_a_clear_error(
    folders, versions, tmp_path, monkeypatch
):
    """Killed mid-ingestion, then the real app starts (its real ``services()``), repairs and says so
    on the status page; while it holds the store, the CLI and a second app are turned away, and
    they corrupt nothing."""
    from streamlit.testing.v1 import AppTest

    import app.services
    from askdocs.localserver import free_port

    run, data = killed_run(folders, tmp_path, kill_before=WRITES.index("put ipaddress") + 1)
    for key, value in env_for(data).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ASKDOCS_API_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing there
    app.services.services.clear()
    try:
        status = AppTest.from_file(str(ROOT / "app" / "views" / "status.py"), default_timeout=TIMEOUT).run()
        assert not status.exception, [e.value for e in status.exception]
        captions = [c.value for c in status.caption]
        assert "index checked: repaired 2 problems" in captions, captions  # the new chunks, stale BM25
        svc = app.services.services()  # the app's own, cached: this process is now the store's writer
        before = documents_by_source(svc.runtime.store, COL)
        # Killed before its record was written: the changed document is at its old version.
        assert before == {CHANGED: versions[0][CHANGED], UNCHANGED: versions[0][UNCHANGED]}

        cli = subprocess.run(
            [sys.executable, "-m", "ingest", str(folders["new docs"])],
            cwd=ROOT,
            env=env_for(data),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert cli.returncode == 2 and "another askdocs process is using the embedded store" in cli.stderr
        assert "ASKDOCS_CHROMA_MODE=server" in cli.stderr and "Traceback" not in cli.stderr

        app.services.services.clear()  # so the next start opens the store again, as a second app would
        second = AppTest.from_string(
            "from app.services import services\nservices()\nimport streamlit as st\nst.write('started')",
            default_timeout=TIMEOUT,
        ).run()
        assert not second.exception, [e.value for e in second.exception]
        assert any("another askdocs process" in e.value for e in second.error)
        assert "started" not in [m.value for m in second.markdown]

        # The first writer lost nothing and still works.
        assert documents_by_source(svc.runtime.store, COL) == before
        assert index_problems(svc.runtime.store, svc.runtime.bm25, COL) == []
        [outcome] = svc.runtime.ingestor.ingest_paths([folders["new docs"] / ADDED], COL)
        assert outcome.status == "ingested" and index_problems(svc.runtime.store, svc.runtime.bm25, COL) == []
    finally:
        app.services.services.clear()
        if "svc" in locals():
            svc.runtime.close()
