"""Evaluate (admins): start an evaluation in the background, read its report, compare two runs.

The page only starts ``eval.runner`` on the app's evaluation thread and shows what the run
folders hold; the numbers are the same as ``python -m eval`` produces. The app lends its own
embedder and local model to the run, so an evaluation does not load a second copy of either.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import streamlit as st

from app.eval_jobs import EvaluationBusy
from app.services import api_generator, eval_jobs, local_generator, services
from app.session import current_principal
from eval import runner
from eval.compare import PRIMARY_METRIC, compare_runs, comparison_warnings, format_comparison
from eval.report import worst_queries
from eval.retrieval_eval import STANDARD_CONFIGS
from eval.runs import RunError, list_runs, load_run
from generation.render import safe_markdown

if not current_principal().is_admin:  # not registered for users; this is the second lock
    st.error("This page is for admins.")
    st.stop()

svc = services()
settings = svc.settings
jobs = eval_jobs()
runs_dir = runner.runs_folder(settings)
st.title("Evaluate")
run_tab, report_tab, compare_tab = st.tabs(["Run", "Reports", "Compare"])

with run_tab:
    kind = st.radio("Evaluate", ["Retrieval (BEIR dataset)", "Answers (sample documents)"], horizontal=True)
    if kind.startswith("Retrieval"):
        choices = {**runner.BUILT_DATASETS, "upload": "a BEIR zip I upload"}
        dataset = st.selectbox("Dataset", list(choices), format_func=cast(Callable[[str], str], choices.get))
        upload = (
            st.file_uploader("BEIR zip (corpus.jsonl, queries.jsonl, qrels/*.tsv)", type="zip")
            if dataset == "upload"
            else None
        )
        split = st.selectbox("Split", ["test", "dev"], help="Tune on dev; report test.")
        offered = list(STANDARD_CONFIGS) + (["default+rerank"] if settings.reranker else [])
        configs = st.multiselect("Configurations", offered, default=offered)
        ready = bool(configs) and (dataset != "upload" or upload is not None)

        def work(progress):  # noqa: ANN001, ANN202 - Progress -> Path
            embedder = svc.runtime.embedder
            source = (
                upload.getvalue()
                if upload is not None
                else runner.prepared_dataset(dataset, settings, embedder.count_tokens)
            )
            return runner.run_retrieval(
                source,
                settings,
                split,
                configs,
                progress=progress,
                embedder=embedder,
                reranker=svc.runtime.retriever.reranker,
            )

        label = f"retrieval on {choices[dataset]} ({split})"
    else:
        limit = st.number_input("Questions of each kind (0: all)", min_value=0, value=0, step=1)
        backend = st.radio("Generator", ["Local model", "API"], horizontal=True)
        ready = True

        def work(progress):  # noqa: ANN001, ANN202
            # Loaded by the page's run that starts the job (below), so a first load shows its spinner.
            return runner.run_answers(
                settings,
                limit=int(limit) or None,
                progress=progress,
                embedder=svc.runtime.embedder,
                generator=chosen_generator,
                reranker=svc.runtime.retriever.reranker,
            )

        label = f"answers with the {backend.lower()}"
    if st.button("Start the evaluation", type="primary", disabled=not ready):
        if not kind.startswith("Retrieval"):
            chosen_generator = local_generator() if backend == "Local model" else api_generator()
        try:
            st.session_state.eval_job = jobs.start(label, work)
        except EvaluationBusy as busy:
            st.warning(str(busy))

    job_id = st.session_state.get("eval_job")
    job = jobs.job(job_id) if job_id else None

    @st.fragment(run_every=1.0 if job and not job.finished else None)
    def show_job() -> None:
        current = jobs.job(job_id) if job_id else None
        if current is None:
            return
        if not current.finished:
            st.progress(
                current.fraction, text=f"{current.label} — {current.stage}: {current.done}/{current.total}"
            )
        elif current.error:
            st.error(safe_markdown(f"The evaluation failed: {current.error}"))  # may quote hostile file names
        else:
            st.success(f"Finished: run {current.folder.name if current.folder else '?'} (see Reports).")
        if current.finished and not st.session_state.get(f"eval-shown-{current.id}"):
            st.session_state[f"eval-shown-{current.id}"] = True
            st.rerun(scope="app")  # the run lists on the other tabs are outside this fragment

    show_job()

skipped: list[str] = []
runs = list_runs(runs_dir, skipped)
run_ids = [r.run_id for r in runs]
describe = {r.run_id: f"{r.run_id} · {r.kind} · {r.dataset}/{r.split} · {r.git_revision[:8]}" for r in runs}

with report_tab:
    if not runs:
        st.info("No runs yet. Start one on the Run tab, or with `python -m eval`.")
    else:
        chosen = st.selectbox("Run", run_ids, format_func=cast(Callable[[str], str], describe.get))
        try:
            run = load_run(runs_dir / chosen)
        except RunError as error:
            st.error(str(error))
            st.stop()
        folder = runs_dir / chosen
        data = run.get("dataset", {})
        st.caption(
            safe_markdown(
                f"{run['kind']} · {data.get('name')} / {data.get('split')} · {data.get('queries')} "
                f"queries · git {run.get('git_revision', '?')} · {run.get('created', '?')}"
            )
        )
        st.dataframe(
            [{"config": name, **config.get("metrics", {})} for name, config in run["configs"].items()],
            hide_index=True,
            width="stretch",
        )
        for plot in sorted(Path(folder).glob("*.png")):
            st.image(str(plot), caption=plot.stem.replace("-", " "))
        for name, config in run["configs"].items():
            with st.expander(f"Worst queries: {name}"):
                metric = PRIMARY_METRIC.get(run["kind"], "ndcg@10")
                for query_id, row in worst_queries(config.get("per_query", {}), metric, 10):
                    st.text(f"{query_id}: {row.get('question', '')}")
                    retrieved = ", ".join(
                        f"{'✓' if r.get('relevant') else '✗'} {r.get('title', r.get('id'))}"
                        for r in row.get("retrieved", [])[:5]
                    )
                    # Titles and answers come from documents and the model: plain text, never markdown.
                    st.text(
                        f"  retrieved: {retrieved}"
                        + (f"\n  answer: {row['answer'][:200]}" if "answer" in row else "")
                    )
        html = Path(folder) / "report.html"
        if html.exists():
            st.download_button(
                "Download the report (HTML)", html.read_bytes(), file_name=f"{chosen}.html", mime="text/html"
            )
    if skipped:
        st.caption(f"Skipped {len(skipped)} unreadable run folder(s): " + "; ".join(skipped)[:300])

with compare_tab:
    if len(runs) < 2:
        st.info("Two runs are needed for a comparison.")
    else:
        left, right = st.columns(2)
        a = left.selectbox(
            "Run A (before)", run_ids, index=1, format_func=cast(Callable[[str], str], describe.get)
        )
        b = right.selectbox(
            "Run B (after)", run_ids, index=0, format_func=cast(Callable[[str], str], describe.get)
        )
        try:
            run_a, run_b = load_run(runs_dir / a), load_run(runs_dir / b)
        except RunError as error:
            st.error(str(error))
            st.stop()
        st.code(
            format_comparison(compare_runs(run_a, run_b), comparison_warnings(run_a, run_b)), language=None
        )
