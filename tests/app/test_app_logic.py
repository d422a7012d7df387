"""The Streamlit app's own logic, run headless with ``streamlit.testing.v1.AppTest``.

No models are loaded: ``app.services`` is pointed at a stack built from the real
parts (embedded Chroma in a tmp folder, the BM25 files, the real ingestor and
ingestion queue, the real answer pipeline, the feedback store) with two scripted
stand-ins, a hashing bag-of-words embedder and a generator that streams a fixed
reply. Each test gets its own data folder and its own ``AppTest`` session.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app.services
from app.auth import ENV_ADMIN_HASH, hash_password
from app.eval_jobs import EvalJobs
from app.feedback import FeedbackStore
from app.monitoring import Recorder
from app.services import Services
from askdocs.localserver import free_port
from askdocs.runtime import Runtime
from generation.generators import GeneratorUnavailable
from generation.render import safe_markdown
from retrieval.access import CollectionPolicy
from tests.conftest import ROOT, make_settings
from tests.fakes import HashingEmbedder
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.unit

MAIN = ROOT / "app" / "main.py"
DOCUMENTS = "views/documents.py"  # for switch_page: relative to app/main.py
STATUS = "views/status.py"
EVALUATE = "views/evaluate.py"
MONITOR = "views/monitor.py"
BEIR_TINY = ROOT / "tests" / "eval" / "fixtures" / "beir_tiny"
PASSWORD = "correct horse battery staple"
TIMEOUT = 30  # seconds per script run; the first one imports Chroma

SORTING_MD = b"""# Sorting

The operator module provides the itemgetter() and attrgetter() functions used for sorting.
They make key functions fast and easy to read.

# Stability

Sorts are guaranteed to be stable: records with equal keys keep their original order.
"""
EVIL_REPLY = (
    "The operator module provides them [1]. ![x](http://evil/p.png) "
    "<img src=http://evil/q.png onerror=alert(1)> <script>alert(2)</script> <http://evil/r.png>"
)


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Real store, BM25, ingestor, queue and feedback in tmp_path, wired into ``app.services``."""
    monkeypatch.delenv(ENV_ADMIN_HASH, raising=False)
    # Nothing listens on the API address: the status page's probe fails at once, as it should.
    api = f"http://127.0.0.1:{free_port()}/v1"
    settings = make_settings(tmp_path / "data", abstain_below=0.0, api_base_url=api)
    runtime = Runtime(settings, embedder=HashingEmbedder())
    ingestor = runtime.ingestor
    assert ingestor.ingest_bytes("sorting.md", SORTING_MD, "default").status == "ingested"
    ingestor.rebuild_bm25("default")
    svc = Services(
        settings,
        runtime,
        FeedbackStore(settings.data_dir / "feedback.jsonl"),
        recorder=Recorder.from_settings(settings),
    )
    local, api = ScriptedGenerator(EVIL_REPLY), ScriptedGenerator(GeneratorUnavailable("connection refused"))
    evaluations = EvalJobs()
    monkeypatch.setattr(app.services, "eval_jobs", lambda: evaluations)
    monkeypatch.setattr(app.services, "services", lambda: svc)
    monkeypatch.setattr(app.services, "local_generator", lambda: local)
    monkeypatch.setattr(app.services, "api_generator", lambda: api)
    monkeypatch.setattr(app.services, "fast_generator", lambda: None)  # no routing unless a test sets one
    try:
        yield {"svc": svc, "local": local, "api": api, "evaluations": evaluations}
    finally:
        runtime.close()


@pytest.fixture
def new_app():
    """A factory of ``AppTest`` sessions of ``app/main.py``, each a new browser session."""

    def make() -> AppTest:
        return AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)

    return make


def page_titles(at: AppTest) -> list[str]:
    return [el.value for el in at.title]


def registered_pages(at: AppTest) -> set[str]:
    """The page files ``st.navigation`` registered in the last run (what the sidebar links to).

    AppTest keeps them in a private attribute (Streamlit is pinned; the public ``switch_page``
    check in the tests below fails the same way if this ever goes stale).
    """
    return {Path(str(info.get("script_path"))).name for info in at._registered_pages.values()}  # noqa: SLF001


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# -- roles ------------------------------------------------------------------------------------------
def test_a_user_gets_ask_and_status_but_no_documents_page(new_app, parts):
    at = new_app().run()
    assert not at.exception, [e.value for e in at.exception]
    assert page_titles(at) == ["Ask your documents"]
    assert registered_pages(at) == {"ask.py", "status.py"}
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(DOCUMENTS)


def test_an_admin_session_gets_the_documents_page(new_app, parts):
    at = new_app()
    at.session_state["askdocs_admin"] = True
    at.run()
    assert registered_pages(at) == {"ask.py", "documents.py", "evaluate.py", "monitor.py", "status.py"}
    at.switch_page(DOCUMENTS).run()
    assert not at.exception, [e.value for e in at.exception]
    assert page_titles(at) == ["Documents"]
    assert "sorting.md" in at.dataframe[0].value["document"].tolist()


def test_main_script_runs_on_every_rerun(new_app, parts):
    """Every rerun goes through main.py, which draws the sign-in and decides the pages.

    A ``pages/`` folder beside ``app/main.py`` would switch Streamlit to its implicit multipage
    mode, in which a rerun (and a fresh server's first run) executes the page file alone.
    """
    assert not (MAIN.parent / "pages").exists()
    at = new_app().run()
    for _ in range(3):
        assert [e.label for e in at.sidebar.expander] == ["Admin sign-in"]
        assert page_titles(at) == ["Ask your documents"]
        at.run()


def test_the_documents_page_checks_the_role_itself():
    """Run on its own (as if its URL were reached some other way), the page refuses a user."""
    at = AppTest.from_file(str(MAIN.parent / DOCUMENTS), default_timeout=TIMEOUT).run()
    assert [e.value for e in at.error] == ["This page is for admins."]
    assert not at.title and not at.file_uploader


def test_without_a_configured_hash_the_sign_in_says_how_to_set_one(new_app, parts):
    at = new_app().run()
    expander = at.sidebar.expander[0]
    assert expander.label == "Admin sign-in"
    assert any("Admin password" in c.value for c in expander.caption)
    assert not at.sidebar.text_input


def test_admin_sign_in_refuses_a_wrong_password_and_accepts_the_right_one(new_app, parts, monkeypatch):
    monkeypatch.setenv(ENV_ADMIN_HASH, hash_password(PASSWORD))
    at = new_app().run()
    field = next(t for t in at.sidebar.text_input if t.label == "Admin password")
    field.input("not the password")
    next(b for b in at.sidebar.button if b.label == "Sign in").click().run()
    assert [e.value for e in at.sidebar.error] == ["Wrong password."]
    assert not at.session_state.get("askdocs_admin")
    assert "documents.py" not in registered_pages(at)

    field = next(t for t in at.sidebar.text_input if t.label == "Admin password")
    field.input(PASSWORD)
    next(b for b in at.sidebar.button if b.label == "Sign in").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["askdocs_admin"] is True
    assert "documents.py" in registered_pages(at)
    assert any(c.value == "Signed in as admin" for c in at.sidebar.caption)
    assert PASSWORD not in repr(at.session_state.to_dict())  # only the fact "admin" is kept

    next(b for b in at.sidebar.button if b.label == "Sign out").click().run()
    assert not at.session_state.get("askdocs_admin")
    assert "documents.py" not in registered_pages(at)


def test_a_restricted_collection_is_not_offered_to_a_user(new_app, parts):
    store = parts["svc"].runtime.store
    store.create_collection("secret")
    store.set_policy("secret", CollectionPolicy.restricted_to(["ada"]))
    at = new_app().run()
    assert at.sidebar.selectbox[0].options == ["default"]
    at = new_app()
    at.session_state["askdocs_admin"] = True
    at.run()
    assert set(at.sidebar.selectbox[0].options) == {"default", "secret"}


# -- rendering --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("![x](http://evil/p.png)", "!\\[x\\](`http://evil/p.png`)"),
        ("see ![a](x.png) and ![b][ref]", "see !\\[a\\](x.png) and !\\[b\\]\\[ref\\]"),
        ("<http://evil/r.png>", "\\<`http://evil/r.png`>"),
        ("plain **bold** [link](http://ok/) stays", "plain **bold** \\[link\\](`http://ok/`) stays"),
    ],
)
def test_safe_markdown_defuses_images_and_autolinks(text, expected):
    assert safe_markdown(text) == expected


def test_a_defused_image_renders_as_text_not_an_image():
    at = AppTest.from_string(
        "import streamlit as st\nfrom generation.render import safe_markdown\n"
        "st.markdown(safe_markdown('![x](http://evil/p.png)'))",
    ).run()
    assert at.markdown[0].value == "!\\[x\\](`http://evil/p.png`)"
    assert not at.markdown[0].allow_html


# -- asking -----------------------------------------------------------------------------------------
def test_an_answer_streams_with_its_sources_and_never_allows_html(new_app, parts):
    at = ask(new_app().run(), "Which module provides itemgetter and attrgetter for sorting?")
    user, assistant = at.chat_message
    assert user.name == "user" and assistant.name == "assistant"
    body = assistant.markdown[0].value
    assert body.startswith("The operator module provides them \\[1\\].")
    assert "evil" not in body and "![" not in body and "<" not in body  # the output checks removed them
    for element in at.markdown:  # captions and quotes included
        assert not element.allow_html, element.value
    [sources] = assistant.expander
    assert sources.label == "Sources (1)"
    assert sources.markdown[0].value == "**\\[1\\] sorting.md, p. 1**"
    assert "itemgetter" in sources.markdown[1].value
    assert sources.caption[0].value.startswith("scores: ")
    assert any("first token" in c.value for c in assistant.caption)
    # The model saw the question and numbered passages; the answer is kept for this session only.
    assert "itemgetter" in str(parts["local"].prompts[-1])
    [turn] = at.session_state["history"]
    assert turn["answer"].citations[0].source == "sorting.md"


def test_the_question_echo_is_defused_too(new_app, parts):
    at = ask(new_app().run(), "Which module provides itemgetter? ![q](http://evil/q.png)")
    user = at.chat_message[0]
    assert user.markdown[0].value == "Which module provides itemgetter? !\\[q\\](`http://evil/q.png`)"
    assert not user.markdown[0].allow_html


def test_a_follow_up_shows_the_query_it_searched(new_app, parts):
    at = ask(new_app().run(), "Which module provides itemgetter and attrgetter for sorting?")
    at = ask(at, "Is it stable?")
    last = at.chat_message[-1]
    searched = [c.value for c in last.caption if c.value.startswith("searched for:")]
    first = "Which module provides itemgetter and attrgetter for sorting?"
    assert searched == [f"searched for: {first} Is it stable?"]
    assert len(at.session_state["history"]) == 2


def test_the_page_in_context_toggle_shows_the_page_text(new_app, parts):
    at = ask(new_app().run(), "Which module provides itemgetter and attrgetter for sorting?")
    toggle = at.chat_message[-1].expander[0].toggle[0]
    assert toggle.label == "Show the page in context"
    toggle.set_value(True).run()
    assert any("Sorts are guaranteed to be stable" in t.value for t in at.chat_message[-1].expander[0].text)


def test_sessions_keep_separate_histories(new_app, parts):
    first = ask(new_app().run(), "Which module provides itemgetter and attrgetter for sorting?")
    second = new_app().run()
    assert len(first.session_state["history"]) == 1
    assert second.session_state["history"] == []
    assert not second.chat_message


def test_new_conversation_clears_the_history(new_app, parts):
    at = ask(new_app().run(), "Which module provides itemgetter and attrgetter for sorting?")
    next(b for b in at.sidebar.button if b.label == "New conversation").click().run()
    assert at.session_state["history"] == [] and not at.chat_message


def test_feedback_is_stored_with_its_comment(new_app, parts):
    at = ask(new_app().run(), "Which module provides itemgetter and attrgetter for sorting?")
    at.feedback[0].set_value(0).run()  # thumbs down
    at.chat_message[-1].text_input[0].input("too short").run()
    records = parts["svc"].feedback.path.read_text(encoding="utf-8")
    assert '"rating": "down"' in records and '"comment": "too short"' in records


def test_a_down_api_backend_falls_back_to_the_local_model_with_a_banner(new_app, parts):
    at = new_app().run()
    at.sidebar.radio[0].set_value("API").run()
    at = ask(at, "Which module provides itemgetter and attrgetter for sorting?")
    assistant = at.chat_message[-1]
    assert [w.value for w in assistant.warning][0].startswith("The API backend is not answering")
    assert assistant.markdown[0].value.startswith("The operator module provides them \\[1\\].")
    assert len(parts["local"].prompts) == 1


# -- documents --------------------------------------------------------------------------------------
def admin_on(new_app, page: str) -> AppTest:  # noqa: ANN001 - the new_app factory
    """A new admin session, signed in, on ``page``."""
    at = new_app()
    at.session_state["askdocs_admin"] = True
    at.run()
    return at.switch_page(page).run()


def admin_documents_page(new_app) -> AppTest:
    return admin_on(new_app, DOCUMENTS)


def wait_for_jobs(svc: Services, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for job in svc.runtime.jobs.jobs():
        svc.runtime.jobs.wait(job.id, timeout=max(0.1, deadline - time.monotonic()))


def test_an_admin_uploads_sees_the_outcome_and_deletes(new_app, parts):
    svc = parts["svc"]
    at = admin_documents_page(new_app)
    ingest = next(b for b in at.button if b.label == "Ingest")
    assert ingest.disabled  # nothing chosen yet
    uploader = at.file_uploader[0]
    uploader.upload("notes.md", b"# Notes\n\nThe zebra crossing rule applies on Tuesdays.\n", "text/markdown")
    uploader.upload("archive.pdf", b"PK\x03\x04" + b"\0" * 64, "application/pdf").run()
    next(b for b in at.button if b.label == "Ingest").click().run()
    wait_for_jobs(svc)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    lines = [m.value for m in at.markdown if "`notes.md`" in m.value or "`archive.pdf`" in m.value]
    assert any("notes.md" in line and "**ingested**" in line for line in lines), lines
    assert any("archive.pdf" in line and "**refused**" in line and "ZIP" in line for line in lines), lines
    assert sorted(at.dataframe[0].value["document"]) == ["notes.md", "sorting.md"]

    doomed = next(s for s in at.selectbox if s.label == "Document to delete")
    doomed.select("notes.md").run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert [d.source for d in svc.runtime.store.documents("default")] == ["sorting.md"]
    assert list(at.dataframe[0].value["document"]) == ["sorting.md"]
    # Said after the rerun that redrew the list (a toast before st.rerun() never arrives).
    assert [m.value for m in at.success] == ["deleted: notes.md (1 chunks removed)"]


def test_an_admin_re_indexes_a_collection(new_app, parts):
    svc = parts["svc"]
    before = svc.runtime.bm25.current_version("default")
    at = admin_documents_page(new_app)
    next(b for b in at.button if b.label.startswith("Re-index")).click().run()
    wait_for_jobs(svc)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    after = svc.runtime.bm25.current_version("default")
    assert after != before
    assert any("re-index into `default` — done" in m.value for m in at.markdown), [
        m.value for m in at.markdown
    ]
    assert f"BM25 index rebuilt (version {after})" in [c.value for c in at.caption]
    assert len(svc.runtime.bm25.get("default")) == svc.runtime.store.count("default")


# -- status -----------------------------------------------------------------------------------------
def test_the_status_page_reports_models_index_and_health(new_app, parts):
    at = new_app().run()
    at.switch_page(STATUS).run()
    assert not at.exception, [e.value for e in at.exception]
    assert page_titles(at) == ["About / status"]
    models, index, health = (table.value for table in at.table)
    assert "pkg:qwen2.5-coder-0.5b-instruct" in set(models["model"])
    [row] = index.to_dict("records")
    chunks = parts["svc"].runtime.store.count("default")
    assert chunks > 0
    assert (row["collection"], row["documents"], row["chunks"], row["BM25 chunks"], row["restricted to"]) == (
        "default",
        1,
        chunks,
        chunks,
        "everyone",
    )
    rows = {row["part"]: row for row in health.to_dict("records")}
    assert rows["vector store"]["healthy"] == "yes"
    assert rows["embedder"]["healthy"] == "yes" and rows["embedder"]["detail"] == "256-d vectors"
    assert rows["API backend"]["healthy"] == "NO"


def test_the_status_page_hides_other_peoples_collections_and_the_data_path_from_users(new_app, parts):
    store = parts["svc"].runtime.store
    store.create_collection("board-minutes")
    store.set_policy("board-minutes", CollectionPolicy.restricted_to(["ada"]))
    data_dir = str(parts["svc"].settings.data_dir)

    user = new_app().run()
    user.switch_page(STATUS).run()
    assert list(user.table[1].value["collection"]) == ["default"]
    assert data_dir not in " ".join(c.value for c in user.caption)

    admin = admin_on(new_app, STATUS)
    assert sorted(admin.table[1].value["collection"]) == ["board-minutes", "default"]
    assert data_dir in " ".join(c.value for c in admin.caption)


def test_the_status_page_shows_no_credentials_from_the_api_url(new_app, parts, monkeypatch):
    svc = parts["svc"]
    secret = "canary-password-51f3"
    url = svc.settings.api_base_url.replace("http://", f"http://user:{secret}@")
    changed = dataclasses.replace(svc, settings=svc.settings.model_copy(update={"api_base_url": url}))
    monkeypatch.setattr(app.services, "services", lambda: changed)
    at = new_app().run()
    at.switch_page(STATUS).run()
    shown = [str(t.value.to_dict("records")) for t in at.table] + [
        e.value for e in (*at.caption, *at.markdown)
    ]
    assert "127.0.0.1" in shown[0] and secret not in " ".join(shown)


# -- evaluate ---------------------------------------------------------------------------------------
def beir_zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, f"uploaded/{path.relative_to(folder)}")
    return buffer.getvalue()


def wait_for_evaluation(evaluations: EvalJobs, job_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not evaluations.job(job_id).finished and time.monotonic() < deadline:
        time.sleep(0.2)
    assert evaluations.job(job_id).finished, evaluations.job(job_id)


def test_an_admin_runs_an_evaluation_on_an_uploaded_beir_zip_and_reads_the_report(new_app, parts):
    at = admin_on(new_app, EVALUATE)
    assert not at.exception, [e.value for e in at.exception]
    assert page_titles(at) == ["Evaluate"]
    assert any("No runs yet" in i.value for i in at.info)

    next(s for s in at.selectbox if s.label == "Dataset").select("upload").run()
    at.file_uploader[0].upload("tiny.zip", beir_zip(BEIR_TINY), "application/zip").run()
    next(m for m in at.multiselect if m.label == "Configurations").set_value(["bm25", "dense"]).run()
    next(b for b in at.button if b.label == "Start the evaluation").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_for_evaluation(parts["evaluations"], at.session_state["eval_job"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job = parts["evaluations"].job(at.session_state["eval_job"])
    assert job.error == "" and job.folder is not None
    assert any(f"run {job.folder.name}" in m.value for m in at.success)
    table = at.dataframe[0].value
    assert sorted(table["config"]) == ["bm25", "dense"]
    assert set(table.columns) >= {"ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_p50_ms"}
    assert (job.folder / "metrics.json").exists() and (job.folder / "report.html").exists()


def test_a_second_evaluation_is_refused_while_one_runs_and_a_failure_is_shown(new_app, parts):
    evaluations: EvalJobs = parts["evaluations"]
    release = threading.Event()
    busy = evaluations.start("a slow one", lambda progress: (release.wait(30), Path("/nonexistent"))[1])
    at = admin_on(new_app, EVALUATE)
    next(b for b in at.button if b.label == "Start the evaluation").click().run()
    assert any("another evaluation or adaptation is running (a slow one)" in w.value for w in at.warning)
    release.set()
    wait_for_evaluation(evaluations, busy)

    failing = evaluations.start(
        "a broken one", lambda progress: (_ for _ in ()).throw(ValueError("no qrels"))
    )
    wait_for_evaluation(evaluations, failing)
    at.session_state["eval_job"] = failing
    at.run()
    assert any("The evaluation failed: ValueError: no qrels" in e.value for e in at.error)


def test_a_user_cannot_reach_the_evaluate_page(new_app, parts):
    at = new_app().run()
    assert "evaluate.py" not in registered_pages(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(EVALUATE)


# -- adapting the reranker ----------------------------------------------------------------------------
def scripted_adaptation(calls: list, release: threading.Event | None = None):  # noqa: ANN201
    """A stand-in for ``tuning.adapt.adapt`` (the real one has its own test) that saves a real run."""
    from retrieval.rerankers import per_collection
    from tuning.adapt import AdaptResult
    from tuning.adoption import Scores

    def fake(settings, collection, questions, steps, *, stack, generator, progress):  # noqa: ANN001, ANN202
        calls.append(
            {
                "collection": collection,
                "questions": questions,
                "steps": steps,
                "stack": stack,
                "generator": generator,
            }
        )
        progress("fine-tuning", 1, steps)
        if release is not None:
            release.wait(30)
        folder = per_collection.collection_dir(settings.data_dir / "rerankers", collection)
        counts = {
            "chunks": 2,
            "passages": questions,
            "questions": 10,
            "train_questions": 7,
            "held_out_questions": 3,
            "train_groups": 7,
            "steps": steps,
            "pairs_seen": 4 * steps,
        }
        result = AdaptResult(
            collection,
            "20260101-000000-abcdef",
            folder / "runs" / "20260101-000000-abcdef",
            True,
            "nDCG@10 0.9000 against retrieval 0.7000: better",
            counts,
            {"echo": 2},
            {"retrieval": Scores(0.6, 0.7), "base_reranker": None},
            Scores(0.85, 0.9),
            {},
        )
        with per_collection.staging(folder) as tmp:
            per_collection.publish(tmp, folder, result.run, result.to_dict(), result.adopted, max_length=64)
        return result

    return fake


def test_an_admin_adapts_the_reranker_in_the_background_and_sees_before_and_after(
    new_app, parts, monkeypatch
):
    calls: list = []
    release = threading.Event()
    monkeypatch.setattr("tuning.adapt.adapt", scripted_adaptation(calls, release))
    at = admin_documents_page(new_app)
    next(n for n in at.number_input if n.label == "Questions to write").set_value(12)
    next(n for n in at.number_input if n.label == "Training steps").set_value(3)
    next(b for b in at.button if b.label == "Adapt reranker to this collection").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job_id = at.session_state["adapt_job"]
    assert "reranker adaptation of default — fine-tuning: 1/3" in at.get("progress")[0].proto.text
    release.set()
    wait_for_evaluation(parts["evaluations"], job_id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert calls == [
        {
            "collection": "default",
            "questions": 12,
            "steps": 3,
            "stack": parts["svc"].runtime,
            "generator": parts["local"],
        }
    ]  # the app lends its own index and local model
    table = at.dataframe[1].value
    assert list(table["ranking"]) == ["retrieval alone", "adapted reranker"]  # no base reranker configured
    assert list(table["nDCG@10"]) == [0.7, 0.9]
    assert any("Adopted: searches in `default` now rerank with it" in m.value for m in at.success)
    assert any("10 questions written from 12 passages (2 dropped)" in c.value for c in at.caption)


def test_a_failed_adaptation_is_shown_and_changes_nothing(new_app, parts, monkeypatch):
    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ValueError("too few usable questions (1 written, 11 dropped)")

    monkeypatch.setattr("tuning.adapt.adapt", broken)
    at = admin_documents_page(new_app)
    next(b for b in at.button if b.label == "Adapt reranker to this collection").click().run()
    wait_for_evaluation(parts["evaluations"], at.session_state["adapt_job"])
    at.run()
    assert any("The adaptation failed: ValueError: too few usable questions" in e.value for e in at.error)
    assert len(at.dataframe) == 1 and not (parts["svc"].settings.data_dir / "rerankers").exists()


# -- failing parts and the rate limit ---------------------------------------------------------------
from dataclasses import replace  # noqa: E402 - this section's own imports, kept with it

from generation.generators.openai import OpenAICompatibleGenerator  # noqa: E402
from tests.generation.faulty_proxy import FaultyProxy  # noqa: E402
from tests.retrieval.test_store_unreachable import ChromaProcess, chroma_process  # noqa: E402, F401 - a fixture

QUESTION = "Which module provides itemgetter and attrgetter for sorting?"
INDEX_DOWN = "The document index is unreachable; try again shortly. Your conversation is kept."
CUT_NOTE = "The answer was cut off: the model server stopped responding. What arrived is kept above."


def with_settings(monkeypatch: pytest.MonkeyPatch, svc: Services, **changes: object) -> Services:
    changed = replace(svc, settings=svc.settings.model_copy(update=changes))
    monkeypatch.setattr(app.services, "services", lambda: changed)
    return changed


def test_the_question_over_the_rate_limit_gets_a_polite_message_and_no_model_call(
    new_app, parts, monkeypatch
):
    with_settings(monkeypatch, parts["svc"], rate_limit_per_minute=2)
    at = ask(ask(new_app().run(), QUESTION), "Is it stable?")
    at = ask(at, "And a third question?")
    user, assistant = at.chat_message[-2:]
    assert user.markdown[0].value == "And a third question?"
    [refusal] = [w.value for w in assistant.warning]
    assert refusal.startswith("You've asked 2 questions in the last minute; please wait ")
    assert refusal.endswith(" seconds before asking again.")
    assert len(parts["local"].prompts) == 2 and len(at.session_state["history"]) == 2
    # Another session (another anonymous visitor without a known address here) has its own budget.
    assert ask(new_app().run(), QUESTION).chat_message[-1].markdown[0].value.startswith("The operator module")


def test_an_answer_cut_off_mid_stream_is_kept_with_a_note(new_app, parts, monkeypatch):
    # a backend whose server dies mid-answer
    cut = ScriptedGenerator(
        GeneratorUnavailable("the API stream broke off: could not connect"),
        after="The operator module provides them [1].",
    )
    monkeypatch.setattr(app.services, "local_generator", lambda: cut)
    at = ask(new_app().run(), QUESTION)
    assistant = at.chat_message[-1]
    assert assistant.markdown[0].value == "The operator module provides them \\[1\\]."
    assert [w.value for w in assistant.warning] == [CUT_NOTE]
    [turn] = at.session_state["history"]
    assert turn["answer"].incomplete and turn["answer"].citations[0].source == "sorting.md"
    at = ask(at, "Is it stable?")  # the cut answer stays in the history, and can be followed up
    assert at.chat_message[1].markdown[0].value == "The operator module provides them \\[1\\]."
    assert len(at.session_state["history"]) == 2


@pytest.fixture
def proxied_api(parts, llama_server, monkeypatch) -> Iterator[FaultyProxy]:
    """The app's API backend is the real llama.cpp server, behind a fault-injecting proxy."""
    with FaultyProxy(llama_server.removesuffix("/v1")) as proxy:
        api = OpenAICompatibleGenerator(f"{proxy.url}/v1", "smollm2", "none", timeout_s=30, retries=1)
        monkeypatch.setattr(app.services, "api_generator", lambda: api)
        yield proxy


@pytest.mark.integration
@pytest.mark.slow
def test_a_real_api_server_cut_off_mid_answer_leaves_the_partial_answer_and_the_note(
    new_app, parts, proxied_api
):
    proxied_api.faults.cut_after_events = 6
    at = new_app().run()
    at.sidebar.radio[0].set_value("API").run()
    at = ask(at, QUESTION)
    assistant = at.chat_message[-1]
    [turn] = at.session_state["history"]
    assert turn["answer"].incomplete and turn["answer"].text.strip()
    assert CUT_NOTE in [w.value for w in assistant.warning]
    assert not any(w.value.startswith("The API backend is not answering") for w in assistant.warning)
    assert parts["local"].prompts == []  # what arrived was kept: no second answer from the local model


@pytest.mark.integration
def test_a_stopped_real_api_server_falls_back_to_the_local_model_with_a_banner(new_app, parts, proxied_api):
    proxied_api.stop()
    at = new_app().run()
    at.sidebar.radio[0].set_value("API").run()
    at = ask(at, QUESTION)
    assistant = at.chat_message[-1]
    assert [w.value for w in assistant.warning] == [
        f"The API backend is not answering (the API at {proxied_api.url}/v1 did not answer: could not connect); "
        "this answer comes from the local model."
    ]
    assert assistant.markdown[0].value.startswith("The operator module provides them \\[1\\].")
    assert len(parts["local"].prompts) == 1


def server_mode_services(settings) -> Services:  # noqa: ANN001 - Settings
    return Services(
        settings, Runtime(settings, embedder=HashingEmbedder()), FeedbackStore(settings.data_dir / "f.jsonl")
    )


@pytest.fixture
def server_mode(parts, chroma_process: ChromaProcess, tmp_path: Path) -> Iterator[Services]:
    """An indexed collection in a real Chroma server the test can stop; the app's other parts from ``parts``."""
    settings = parts["svc"].settings.model_copy(
        update={
            "chroma_mode": "server",
            "chroma_port": chroma_process.port,
            "data_dir": tmp_path / "server-data",
        }
    )
    svc = server_mode_services(settings)
    assert svc.runtime.ingestor.ingest_bytes("sorting.md", SORTING_MD, "default").status == "ingested"
    svc.runtime.ingestor.rebuild_bm25("default")
    yield svc
    svc.runtime.close()


@pytest.mark.integration
@pytest.mark.slow
def test_the_chroma_server_going_away_is_told_and_the_next_question_after_it_returns_works(
    new_app, server_mode, chroma_process, monkeypatch
):
    monkeypatch.setattr(app.services, "services", lambda: server_mode)
    at = ask(new_app().run(), QUESTION)
    assert at.chat_message[-1].markdown[0].value.startswith("The operator module")

    chroma_process.stop()
    at = ask(at, "Is sorting stable?")
    assert [w.value for w in at.warning][0] == INDEX_DOWN  # at the top of the page
    assert [e.value for e in at.chat_message[-1].error] == [INDEX_DOWN]
    assert at.chat_message[-2].markdown[0].value == "Is sorting stable?"  # the question is kept
    assert len(at.session_state["history"]) == 2

    chroma_process.start()
    at = ask(at, "Is sorting stable?")
    assert not at.warning  # the page-top notice is gone; the failed turn keeps its own note
    assert [e.value for e in at.error] == [INDEX_DOWN] and at.chat_message[3].error
    assert at.chat_message[-1].markdown[0].value.startswith("The operator module")
    assert len(at.session_state["history"]) == 3


@pytest.mark.integration
@pytest.mark.slow
def test_the_app_started_while_the_chroma_server_is_down_says_so_and_recovers(
    new_app, server_mode, chroma_process, monkeypatch
):
    settings = server_mode.settings
    opened: list[Services] = []

    def services() -> Services:  # st.cache_resource keeps only a success: each run tries again until then
        if not opened:
            opened.append(server_mode_services(settings))
        return opened[0]

    monkeypatch.setattr(app.services, "services", services)
    chroma_process.stop()
    at = new_app().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [INDEX_DOWN] and not at.chat_input

    chroma_process.start()
    at = ask(at.run(), QUESTION)
    assert not at.error and at.chat_message[-1].markdown[0].value.startswith("The operator module")
    opened[0].runtime.close()


@pytest.mark.integration
def test_the_documents_and_status_pages_say_the_index_is_down_instead_of_a_traceback(
    new_app, server_mode, chroma_process, monkeypatch
):
    monkeypatch.setattr(app.services, "services", lambda: server_mode)
    at = new_app()
    at.session_state["askdocs_admin"] = True
    at.run()
    chroma_process.stop()
    for page in (DOCUMENTS, STATUS):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("unreachable" in e.value for e in at.error), [e.value for e in at.error]
    chroma_process.start()
    at.switch_page(DOCUMENTS).run()
    assert not at.exception and not at.error
    assert "sorting.md" in at.dataframe[0].value["document"].tolist()


def test_when_no_generator_answers_the_question_is_kept_with_what_failed(new_app, parts, monkeypatch):
    down = ScriptedGenerator(GeneratorUnavailable("connection refused"))
    monkeypatch.setattr(app.services, "local_generator", lambda: down)
    at = ask(new_app().run(), QUESTION)  # the local model, chosen and down
    assert [e.value for e in at.chat_message[-1].error] == [
        "The local model failed before answering (connection refused)."
    ]
    at.sidebar.radio[0].set_value("API").run()
    at = ask(at, "Is it stable?")  # the API down, then the local model it falls back to down too
    assistant = at.chat_message[-1]
    assert assistant.warning[0].value.startswith("The API backend is not answering")
    assert [e.value for e in assistant.error] == ["The local model failed too (connection refused)."]
    assert [t["question"] for t in at.session_state["history"]] == [QUESTION, "Is it stable?"]


# -- semantic cache and monitoring ------------------------------------------------------------------
# The page's words (importing app.views.ask would run the page, and open the real data folder).
CACHED = "cached: answered at once from an earlier, similar question over the same documents"


def test_a_repeated_question_is_answered_from_the_cache_and_shown_as_cached(new_app, parts):
    at = ask(new_app().run(), QUESTION)
    assert CACHED not in [c.value for c in at.chat_message[-1].caption]
    other = ask(new_app().run(), QUESTION.lower())  # another visitor, the same question
    assistant = other.chat_message[-1]
    assert assistant.markdown[0].value.startswith("The operator module provides them \\[1\\].")
    assert CACHED in [c.value for c in assistant.caption]
    assert assistant.expander[0].label == "Sources (1)"  # the sources come with it
    assert len(parts["local"].prompts) == 1  # no model call for the second
    records = parts["svc"].recorder.records()
    assert [(r.route, r.outcome, r.cache) for r in records] == [
        ("ui", "answered", "miss"),
        ("ui", "answered", "hit"),
    ]
    assert records[1].prompt_tokens == 0 and records[0].prompt_tokens > 0


def charts(at: AppTest) -> list:
    return [e for e in at.main if getattr(e, "type", "") in ("arrow_vega_lite_chart", "vega_lite_chart")]


def test_an_admin_sees_the_monitor_page_with_charts_and_the_latest_comment(new_app, parts):
    at = ask(new_app().run(), QUESTION)
    at.feedback[0].set_value(0).run()
    at.chat_message[-1].text_input[0].input("missed the second function").run()
    ask(new_app().run(), QUESTION)  # a cache hit
    parts["svc"].recorder.record_error("api", "default", "generator", 0.3)
    admin = admin_on(new_app, MONITOR)
    assert not admin.exception, [e.value for e in admin.exception]
    assert page_titles(admin) == ["Monitor"]
    shown = {m.label: m.value for m in admin.metric}
    assert shown["Questions"] == "3" and shown["Cache hit rate"] == "50.0%" and shown["Error rate"] == "33.3%"
    assert shown["Thumbs up"] == "0%"
    assert [s.value for s in admin.subheader][:4] == [
        "Latency (s, question to full answer)",
        "Error rate and cache hit rate",
        "Tokens per day",
        "Estimated cost per day (USD)",
    ]
    assert len(charts(admin)) >= 5  # latency, rates, tokens, cost, feedback
    assert any("missed the second function" in m.value for m in admin.markdown)


def test_routing_shows_the_tier_with_the_answer_and_on_the_monitor_page(new_app, parts, monkeypatch):
    fast = ScriptedGenerator("The operator module provides them [1].")
    fast.name = "local:fast"
    monkeypatch.setattr(app.services, "fast_generator", lambda: fast)
    at = ask(new_app().run(), QUESTION)
    assert len(fast.prompts) == 1 and not parts["local"].prompts
    assert any(
        "local:fast · fast model (short factual question)" in c.value for c in at.chat_message[-1].caption
    )
    ask(at, "What is the difference between itemgetter() and attrgetter() when sorting?")
    assert len(parts["local"].prompts) == 1  # the comparison went to the strong (main) model
    assert any("strong model (comparison)" in c.value for c in at.chat_message[-1].caption)
    admin = admin_on(new_app, MONITOR)
    assert "Routing: answers by tier" in [s.value for s in admin.subheader]
    assert set(admin.dataframe[0].value.index) == {"fast", "strong"}


def test_a_user_cannot_reach_the_monitor_page(new_app, parts):
    at = new_app().run()
    assert "monitor.py" not in registered_pages(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(MONITOR)
    alone = AppTest.from_file(str(MAIN.parent / MONITOR), default_timeout=TIMEOUT).run()
    assert [e.value for e in alone.error] == ["This page is for admins."] and not alone.metric
