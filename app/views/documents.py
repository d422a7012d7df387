"""Documents (admins): upload, list, delete, re-index, create and restrict collections, adapt the reranker.

Ingestion runs on the ingestion queue's background thread, so this page only
submits jobs and shows their progress; users can keep asking meanwhile. Adapting
the reranker (``tuning.adapt``) runs on the app's evaluation thread
(``app.eval_jobs``): both keep the cores busy for minutes, so one runs at a time.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

import streamlit as st

from app.eval_jobs import EvaluationBusy
from app.services import eval_jobs, local_generator, services
from app.session import current_principal
from generation.render import safe_markdown
from ingest.jobs import JobStatus
from ingest.loaders import supported_kinds
from retrieval.access import CollectionPolicy
from retrieval.rerankers import per_collection
from retrieval.stores import check_collection_name
from tuning import adapt as adaptation

if not current_principal().is_admin:  # the page is not registered for users; this is the second lock
    st.error("This page is for admins.")
    st.stop()

svc = services()
store = svc.runtime.store
st.title("Documents")
# A message from the run before an st.rerun() (a toast shown just before a rerun never arrives).
if flash := st.session_state.pop("documents_flash", None):
    st.success(flash)

with st.sidebar:
    with st.form("new-collection", clear_on_submit=True):
        name = st.text_input("New collection", placeholder="e.g. handbook")
        if st.form_submit_button("Create") and name:
            try:
                store.create_collection(check_collection_name(name.strip()))
                st.session_state.admin_collection = name.strip()
                st.success(f"Created {name.strip()!r}.")
            except ValueError as error:
                st.error(str(error))

collections = store.collections() or [svc.settings.default_collection]
chosen = st.session_state.get("admin_collection", svc.settings.default_collection)
collection = st.selectbox(
    "Collection", collections, index=collections.index(chosen) if chosen in collections else 0
)
st.session_state.admin_collection = collection

st.subheader("Upload")
limit = svc.settings.max_upload_mb
round_ = st.session_state.setdefault("upload_round", 0)  # a new key empties the uploader after a submit
uploads = st.file_uploader(
    f"{supported_kinds()} files (up to {limit:g} MB each)",
    accept_multiple_files=True,
    key=f"uploads-{round_}",
)
if st.button("Ingest", type="primary", disabled=not uploads):
    files = []
    for upload in uploads or []:
        data = upload.getvalue()
        files.append((upload.name, data))
    st.session_state.setdefault("my_jobs", []).append(svc.runtime.jobs.submit(files, collection))
    st.session_state.upload_round = round_ + 1
    st.rerun()


def my_jobs() -> list[JobStatus]:
    """This session's jobs, newest first (the queue forgets old jobs; those simply drop out)."""
    mine = set(st.session_state.get("my_jobs", []))
    return [job for job in svc.runtime.jobs.jobs() if job.id in mine]


OUTCOME_ICONS = {
    "ingested": ":material/check_circle:",
    "updated": ":material/check_circle:",
    "unchanged": ":material/remove:",
    "refused": ":material/block:",
}


# Polls only while one of this session's jobs runs; the finishing job's full rerun redefines it idle.
@st.fragment(run_every=1.0 if any(not job.finished for job in my_jobs()) else None)
def show_jobs() -> None:
    """This session's jobs, redrawn every second while one runs; a job that finishes redraws the page."""
    reported = st.session_state.setdefault("finished_jobs", set())
    for job in my_jobs():
        if job.finished and job.id not in reported:
            reported.add(job.id)
            st.rerun(scope="app")  # the document list below is outside this fragment
        label = "re-index" if job.kind == "reindex" else f"{len(job.files)} file(s)"
        st.markdown(
            f"**Job {job.id[:5]}** — {label} into `{job.collection}` — {'done' if job.finished else 'running'}"
        )
        for f in job.files:
            if f.outcome is None:
                st.progress(0.5 if f.state == "working" else 0.0, text=f"{f.name}: {f.state}")
            else:
                icon = OUTCOME_ICONS.get(f.outcome.status, ":material/circle:")
                st.markdown(f"{icon} `{f.name}` — **{f.outcome.status}** ({f.outcome.detail})")
        if job.detail:
            st.caption(job.detail)


show_jobs()

st.subheader(f"Documents in `{collection}`")
documents = store.documents(collection)
if documents:
    st.dataframe(
        [
            {
                "document": d.source,
                "pages": d.pages,
                "chunks": d.chunks,
                "size (KB)": round(d.size_bytes / 1024, 1),
                "ingested": dt.datetime.fromtimestamp(d.ingested_at).strftime("%Y-%m-%d %H:%M"),
                "type": d.kind,
            }
            for d in documents
        ],
        hide_index=True,
        width="stretch",
    )
    doomed = st.selectbox("Document to delete", [d.source for d in documents], index=None)
    if st.button("Delete", disabled=doomed is None):
        # the button is disabled while no document is chosen
        outcome = svc.runtime.ingestor.delete(collection, cast(str, doomed))
        st.session_state.documents_flash = f"{outcome.status}: {outcome.source} ({outcome.detail})"
        st.rerun()
else:
    st.info("No documents in this collection yet.")

if st.button("Re-index (rebuild the keyword index)"):
    st.session_state.setdefault("my_jobs", []).append(svc.runtime.jobs.submit_reindex(collection))
    st.rerun()

st.subheader("Reranker adapted to this collection")
st.caption(
    "Fine-tunes the reranker on questions the local model writes about this collection's passages, "
    "and keeps it only if it ranks the held-out questions' passages reliably better than what "
    "searches use now. Those questions are only a proxy for your users' (docs/evaluation.md, "
    '"On a real corpus"). Nothing leaves this machine; it keeps both cores busy for a while.'
)
adapted_folder = per_collection.collection_dir(svc.settings.data_dir / "rerankers", collection)
left, right = st.columns(2)
questions = left.number_input("Questions to write", min_value=8, value=200, step=20)
steps = right.number_input("Training steps", min_value=1, value=100, step=20)
if st.button("Adapt reranker to this collection", disabled=not documents):
    generator = local_generator()  # loaded here, on the page's run, so a first load shows its spinner

    def work(progress):  # noqa: ANN001, ANN202 - Progress -> Path
        return adaptation.adapt(
            svc.settings,
            collection,
            int(questions),
            int(steps),
            stack=svc.runtime,
            generator=generator,
            progress=progress,
        ).folder

    try:
        st.session_state.adapt_job = eval_jobs().start(f"reranker adaptation of {collection}", work)
    except EvaluationBusy as busy:
        st.warning(str(busy))

adapt_id = st.session_state.get("adapt_job")
adapt_job = eval_jobs().job(adapt_id) if adapt_id else None


@st.fragment(run_every=1.0 if adapt_job and not adapt_job.finished else None)
def show_adaptation() -> None:
    """The running adaptation's progress; when it ends, the page redraws with its report below."""
    job = eval_jobs().job(adapt_id) if adapt_id else None
    if job is None:
        return
    if not job.finished:
        st.progress(job.fraction, text=f"{job.label} — {job.stage}: {job.done}/{job.total}")
    elif job.error:
        st.error(safe_markdown(f"The adaptation failed: {job.error}"))  # may quote document text
    if job.finished and not st.session_state.get(f"adapt-shown-{job.id}"):
        st.session_state[f"adapt-shown-{job.id}"] = True
        st.rerun(scope="app")  # the report below is outside this fragment


show_adaptation()
if report := per_collection.latest_report(adapted_folder):
    before, after = report["before"], report["after"]
    rows = [
        ("retrieval alone", before["retrieval"]),
        ("base reranker", before["base_reranker"]),
        ("adapted reranker", after),
    ]
    st.dataframe(
        [
            {"ranking": name, "MRR@10": s["mrr_at_10"], "nDCG@10": s["ndcg_at_10"]}
            for name, s in rows
            if s is not None
        ],
        hide_index=True,
    )
    counts = report["counts"]
    st.caption(
        f"Run {report['run']}: {counts['questions']} questions written from {counts['passages']} "
        f"passages ({sum(report['dropped'].values())} dropped), {counts['train_questions']} to train on, "
        f"{counts['held_out_questions']} held out to measure; {counts['steps']} steps."
    )
    verdict = f"{report['reason']}."
    if report["adopted"]:
        st.success(f"Adopted: searches in `{collection}` now rerank with it. {verdict}")
    else:
        st.info(f"Not adopted; searches keep their current ranking. {verdict}")
in_use = per_collection.adopted_run(adapted_folder)
if in_use is not None and (report is None or in_use.name != report["run"]):
    st.caption(f"In use: the adapted reranker of run {in_use.name}.")

st.subheader("Who may read this collection")
policy = store.policy(collection)
with st.form("policy"):
    users = st.text_input("Users (comma-separated; empty: everyone)", ", ".join(sorted(policy.users)))
    groups = st.text_input("Groups (comma-separated)", ", ".join(sorted(policy.groups)))
    if st.form_submit_button("Save"):
        store.set_policy(collection, CollectionPolicy.restricted_to(users.split(","), groups.split(",")))
        st.success("Saved. The restriction applies to every search from now on.")
