"""The web app end to end: ``streamlit run`` on loopback, driven by Debian's chromium through Playwright.

The module starts one app on a throwaway data folder with ``sample_docs`` already indexed
(``python -m ingest`` in a subprocess, as the README does), the real embedder and the real
default generator (its converted weights come from the suite's shared model cache). Every
test opens its own browser context, which is a new Streamlit session. Screenshots of every
page land in ``tests/app/artifacts/``; with ``ASKDOCS_UPDATE_SCREENSHOT=1`` the Ask page is
also written to ``docs/screenshot-ask.png`` for the README.

Every wait is a Playwright wait with a timeout; the first answer may load the generator on
CPU, so answers get up to four minutes.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.auth import ENV_ADMIN_HASH, hash_password
from bench import webapp
from bench.webapp import CHROMIUM, CHROMIUM_ARGS, PLACEHOLDER, RunningApp
from tests.conftest import MODEL_CACHE, ROOT, SAMPLE_DOCS

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
Page = playwright_api.Page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = ROOT / "tests" / "app" / "artifacts"
README_SCREENSHOT = ROOT / "docs" / "screenshot-ask.png"
PASSWORD = "e2e admin password"
QUESTION = "Which module provides the itemgetter() and attrgetter() functions used for sorting?"
LONG_QUESTION = (
    "Explain in detail everything the sorting HOWTO says about key functions, the operator module's "
    "functions, sort stability and the decorate-sort-undecorate idiom, with an example for each."
)
VIEWPORT = {"width": 1280, "height": 1000}
UI_TIMEOUT_MS = 60_000  # page loads, clicks, ingestion of a tiny file
ANSWER_TIMEOUT_MS = 240_000  # the first answer loads the 0.5B generator on 2 CPU cores

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (`make test` installs it)", allow_module_level=True)


# -- the app ----------------------------------------------------------------------------------------
def app_environment(data_dir: Path) -> dict[str, str]:
    return webapp.app_environment(data_dir, MODEL_CACHE, {ENV_ADMIN_HASH: hash_password(PASSWORD)})


@contextmanager
def streamlit_app(data_dir: Path, log: Path) -> Iterator[RunningApp]:
    try:
        with webapp.streamlit_app(app_environment(data_dir), log) as app:
            yield app
    finally:
        if log.exists():  # kept with the screenshots, for a failure in CI
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / log.name)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    folder = tmp_path_factory.mktemp("browser-app")
    data_dir = folder / "data"
    indexed = webapp.index_folder(SAMPLE_DOCS, app_environment(data_dir))
    assert "summary: 5 ingested" in indexed, indexed
    with streamlit_app(data_dir, folder / "streamlit-server.log") as app:
        yield app


@pytest.fixture(scope="module")
def app_url(app_server: RunningApp) -> str:
    return app_server.url


@pytest.fixture(scope="module")
def browser() -> Iterator:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_session(browser, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Page]]:
    """Opens ``url`` in a new browser context, i.e. a new Streamlit session; all are closed afterwards."""
    contexts = []

    def open_session(url: str) -> Page:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        expect(page.get_by_test_id("stApp")).to_be_visible()
        return page

    try:
        yield open_session
    finally:
        for i, context in enumerate(contexts):
            for page in context.pages:  # the state each session ended in, pass or fail
                shoot(page, f"{request.node.name}-end-{i}")
            context.close()


# -- helpers ----------------------------------------------------------------------------------------
def shoot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    try:
        page.screenshot(path=str(path), full_page=True, timeout=30_000)
    except playwright_api.Error:  # a screenshot must never be the reason a test fails
        pass
    return path


def sidebar(page: Page):  # noqa: ANN201 - a Locator
    return page.get_by_test_id("stSidebar")


def nav_link(page: Page, title: str):  # noqa: ANN201 - a Locator
    links = page.get_by_test_id("stSidebarNav").get_by_test_id("stSidebarNavLink")
    return links.filter(has_text=re.compile(rf"{re.escape(title)}\s*$"))  # the text is "<icon name> <title>"


def nav_links(page: Page) -> list[str]:
    """The sidebar's page titles as they are now (wait for the expected state first)."""
    links = page.get_by_test_id("stSidebarNav").get_by_test_id("stSidebarNavLink")
    expect(links.first).to_be_visible()
    return [text.strip().splitlines()[-1] for text in links.all_inner_texts()]


def idle(page: Page) -> None:
    """Wait until no script run is going on in this session."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def go_to(page: Page, title: str, heading: str) -> None:
    """Follow a sidebar link (the session is kept) and wait for the page's title and the end of its run."""
    nav_link(page, title).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    idle(page)


def sign_in(page: Page) -> None:
    # Click only once the page's run has ended: a click that lands while that run re-renders the
    # sidebar can be lost (twice in CI the box still held the password and no run had started).
    idle(page)
    bar = sidebar(page)
    bar.get_by_text("Admin sign-in").click()
    bar.get_by_label("Admin password").fill("not the password")
    bar.get_by_role("button", name="Sign in").click()
    expect(bar.get_by_text("Wrong password.")).to_be_visible()
    bar.get_by_label("Admin password").fill(PASSWORD)
    bar.get_by_role("button", name="Sign in").click()
    expect(bar.get_by_text("Signed in as admin")).to_be_visible()
    expect(nav_link(page, "Documents")).to_be_visible()


# Records, on every DOM change, the text of the answer being written in the newest assistant
# message (its first markdown block outside the sources, banners and spinners).
_WATCH_ANSWER = """(expected) => {
  window.__askdocsSeen = [];
  const read = () => {
    const messages = document.querySelectorAll('[data-testid="stChatMessage"]');
    if (messages.length !== expected) return;
    const last = messages[messages.length - 1];
    if (!last.querySelector('[data-testid="stChatMessageAvatarAssistant"]')) return;
    const body = [...last.querySelectorAll('[data-testid="stMarkdownContainer"]')].find(
      (e) => !e.closest('[data-testid="stExpander"], [data-testid="stAlert"], [data-testid="stSpinner"]'));
    const text = body ? body.innerText.trim() : "";
    const seen = window.__askdocsSeen;
    if (text && text !== seen[seen.length - 1]) seen.push(text);
  };
  if (window.__askdocsWatch) window.__askdocsWatch.disconnect();
  window.__askdocsWatch = new MutationObserver(read);
  window.__askdocsWatch.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def ask(page: Page, question: str) -> tuple:
    """Ask in the chat box and wait for the finished answer.

    Returns the answer's chat message and the texts the answer showed while it was being written.
    """
    messages = page.get_by_test_id("stChatMessage")
    turns = messages.count() // 2 + 1
    page.evaluate(_WATCH_ANSWER, 2 * turns)
    box = page.get_by_placeholder(PLACEHOLDER)
    expect(box).to_be_enabled()
    box.fill(question)
    box.press("Enter")
    expect(messages).to_have_count(2 * turns, timeout=ANSWER_TIMEOUT_MS)
    answer = messages.nth(2 * turns - 1)
    # The finished turn is redrawn from the history with its timing line ("… total 12.34 s …").
    timing = answer.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"total \d+\.\d+ s"))
    expect(timing).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(messages.nth(2 * turns - 2)).to_contain_text(question)
    seen = page.evaluate("() => window.__askdocsSeen")
    return answer, seen


def streamed(seen: list[str]) -> bool:
    """True when some text shown earlier was a shorter beginning of one shown later: it grew in place."""
    pairs = ((early, later) for i, early in enumerate(seen) for later in seen[i + 1 :])
    return any(later.startswith(early) and len(later) > len(early) for early, later in pairs)


def sources(answer):  # noqa: ANN001, ANN201 - Locators
    return answer.get_by_test_id("stExpander").filter(has_text=re.compile(r"Sources \(\d+\)"))


def upload(page: Page, path: Path) -> None:
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(path))
    expect(page.get_by_test_id("stFileUploader")).to_contain_text(path.name)
    page.get_by_role("button", name="Ingest", exact=True).click()  # waits until the rerun enables it


def outcome_line(page: Page, name: str):  # noqa: ANN201 - a Locator
    """The job list's final line for ``name`` ("✅ `name` — **ingested** (…)"), once it has one."""
    line = page.get_by_test_id("stMarkdownContainer").filter(has_text=name)
    return line.filter(has_text=re.compile(r"\b(ingested|updated|unchanged|refused)\b"))


def document_cell(page: Page, name: str):  # noqa: ANN201 - a Locator
    """``name``'s cell in the Documents table (the canvas grid keeps an accessible copy of its cells)."""
    exactly = re.compile(rf"^{re.escape(name)}$")
    return page.get_by_test_id("stDataFrame").locator("td").filter(has_text=exactly)


def choose(page: Page, label: str, value: str) -> None:
    """Pick ``value`` in the select box labelled ``label``.

    The menu is opened from the keyboard once the script run is over (a run that redraws the
    widget closes an open menu); a pick that did not take is tried again, up to five times.
    """
    box = page.get_by_role("combobox", name=label)
    option = page.get_by_role("option", name=value, exact=True)
    for _ in range(5):
        idle(page)
        box.focus()
        box.press("ArrowDown")
        try:
            option.click(timeout=5_000)
            expect(box).to_have_value(value, timeout=5_000)
            return
        except (playwright_api.TimeoutError, AssertionError):
            page.keyboard.press("Escape")
    expect(box).to_have_value(value, timeout=1_000)  # fails, showing what the box holds


def delete(page: Page, name: str) -> None:
    """Delete ``name`` from the Documents page; wait until the list no longer shows it and the page says so."""
    choose(page, "Document to delete", name)
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(document_cell(page, name)).to_have_count(0)
    expect(page.get_by_test_id("stAlert").filter(has_text=f"deleted: {name}")).to_be_visible()
    idle(page)


def listed(page: Page) -> list[str]:
    """The document names in the Documents table, once the grid has drawn its cells."""
    table = page.get_by_test_id("stDataFrame")
    expect(table.locator("tr td").first).to_be_attached()
    rows = table.locator("tr").filter(has=page.locator("td")).all()
    return [row.locator("td").first.inner_text().strip() for row in rows]


# -- tests ------------------------------------------------------------------------------------------
def test_a_sample_question_gets_a_streamed_answer_citing_the_right_page(app_url, new_session):
    page = new_session(app_url)
    expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible()
    shoot(page, "ask-empty")
    answer, seen = ask(page, QUESTION)
    (ARTIFACTS / "ask-streamed-texts.json").write_text(json.dumps(seen, indent=1), encoding="utf-8")
    assert streamed(seen), f"the answer did not grow in place while streaming; texts seen: {seen}"
    expect(answer).to_contain_text("operator")
    expect(answer.get_by_test_id("stCaptionContainer").filter(has_text="first token")).to_be_visible()
    cited = sources(answer)
    expect(cited).to_be_visible()
    expect(cited).to_contain_text("python_sorting_howto.pdf, p. 2")
    expect(cited).to_contain_text("scores:")
    shoot(page, "ask-answer")
    if os.environ.get("ASKDOCS_UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(README_SCREENSHOT))


def test_an_admin_uploads_asks_about_and_deletes_a_document(app_url, new_session, tmp_path):
    doc = tmp_path / "zorblax_notes.md"
    doc.write_text(
        "# Zorblax notes\n\nThe Zorblax-7 telescope was built in 1987 by Ingrid Halvorsen in Tromso.\n"
        "It observes the northern lights from a hill above the harbour.\n",
        encoding="utf-8",
    )
    page = new_session(app_url)
    sign_in(page)
    go_to(page, "Documents", "Documents")
    before = listed(page)
    assert "python_sorting_howto.pdf" in before and doc.name not in before
    shoot(page, "documents")

    upload(page, doc)
    line = outcome_line(page, doc.name)
    expect(line).to_be_visible()
    expect(line).to_contain_text(re.compile(rf"{re.escape(doc.name)} — ingested \(1 pages, \d+ chunks\)"))
    # The list below redraws itself when the job finishes: no click needed.
    expect(document_cell(page, doc.name)).to_have_count(1)
    shoot(page, "documents-ingested")

    go_to(page, "Ask", "Ask your documents")
    answer, _ = ask(page, "Who built the Zorblax-7 telescope?")
    expect(sources(answer)).to_contain_text(f"{doc.name}, p. 1")
    expect(answer).to_contain_text("Halvorsen")
    shoot(page, "ask-uploaded-document")

    go_to(page, "Documents", "Documents")
    expect(document_cell(page, doc.name)).to_have_count(1)
    assert doc.name in listed(page)
    delete(page, doc.name)
    expect(document_cell(page, doc.name)).to_have_count(0)
    assert doc.name not in listed(page)
    assert "python_sorting_howto.pdf" in listed(page)
    shoot(page, "documents-deleted")


def test_an_admin_re_indexes_the_keyword_index(app_url, new_session):
    page = new_session(app_url)
    sign_in(page)
    go_to(page, "Documents", "Documents")
    page.get_by_role("button", name="Re-index (rebuild the keyword index)").click()
    expect(page.get_by_text(re.compile(r"re-index into default — done"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"BM25 index rebuilt \(version \d+"))).to_be_visible()
    shoot(page, "documents-reindexed")


def test_the_stop_button_ends_generation_and_keeps_the_partial_answer(app_server, new_session):
    page = new_session(app_server.url)
    page.evaluate(_WATCH_ANSWER, 2)
    box = page.get_by_placeholder(PLACEHOLDER)
    box.fill(LONG_QUESTION)
    box.press("Enter")
    page.wait_for_function(
        "() => (window.__askdocsSeen || []).some((t) => t.length >= 40)", timeout=ANSWER_TIMEOUT_MS
    )
    page.get_by_test_id("stChatInputStopButton").click()
    idle(page)
    partial = page.evaluate("() => window.__askdocsSeen")[-1]

    # Generation really ended: the backend says so, and the server goes quiet (a running
    # generation keeps both cores busy: several CPU seconds per wall-clock second).
    deadline = time.monotonic() + 30
    while "local generation stopped early" not in app_server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "local generation stopped early" in app_server.log.read_text()
    before = app_server.cpu_seconds()
    time.sleep(4)
    busy = app_server.cpu_seconds() - before
    assert busy < 1.5, f"the server used {busy:.1f} CPU seconds in the 4 s after the stop"
    shoot(page, "ask-stopped")

    # The partial answer stays in the history, marked as stopped, and the next question works.
    answer, _ = ask(page, QUESTION)
    expect(answer).to_contain_text("operator")
    stopped = page.get_by_test_id("stChatMessage").nth(1)
    expect(stopped).to_contain_text("(stopped)")
    expect(stopped).to_contain_text(partial[:30])
    shoot(page, "ask-after-stop")


def test_an_admin_evaluates_retrieval_in_the_background_and_compares_runs(app_url, new_session):
    page = new_session(app_url)
    sign_in(page)
    go_to(page, "Evaluate", "Evaluate")
    main = page.get_by_role("main")
    for run in range(2):  # two runs of the smoke set, so that there is something to compare
        page.get_by_role("button", name="Start the evaluation").click()
        expect(main.get_by_text(re.compile(r"Finished: run \S+"))).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        idle(page)
    shoot(page, "evaluate-finished")
    page.get_by_role("tab", name="Reports").click()
    expect(main.get_by_test_id("stDataFrame")).to_be_visible()
    expect(main.get_by_test_id("stImage").first).to_be_visible()
    assert main.get_by_test_id("stImage").count() >= 4  # quality, latency, recall@k, latency distribution
    expect(main.get_by_role("button", name="Download the report (HTML)")).to_be_visible()
    shoot(page, "evaluate-report")
    page.get_by_role("tab", name="Compare").click()
    expect(main.get_by_text(re.compile(r"ndcg@10\s+\S+ → \S+"))).to_be_visible()
    shoot(page, "evaluate-compare")


def test_a_zip_renamed_to_pdf_is_refused_with_its_reason(app_url, new_session, tmp_path):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("report.txt", "Quarterly numbers.\n" * 50)
    fake = tmp_path / "quarterly_report.pdf"
    fake.write_bytes(archive.getvalue())
    page = new_session(app_url)
    sign_in(page)
    go_to(page, "Documents", "Documents")
    upload(page, fake)
    line = outcome_line(page, fake.name)
    expect(line).to_contain_text(f"{fake.name} — refused")
    expect(line).to_contain_text("ZIP")
    shoot(page, "documents-refused")
    go_to(page, "Documents", "Documents")  # a full rerun: the list is drawn afresh
    assert fake.name not in listed(page)


def test_a_second_session_does_not_see_the_first_ones_chat(app_url, new_session):
    first = new_session(app_url)
    # Off-topic: the app abstains without calling the generator, and the turn is still kept.
    question = "What is the airspeed velocity of an unladen swallow?"
    answer, _ = ask(first, question)
    expect(answer).to_be_visible()

    second = new_session(app_url)
    expect(second.get_by_placeholder(PLACEHOLDER)).to_be_visible()
    expect(second.get_by_test_id("stChatMessage")).to_have_count(0)
    expect(second.get_by_role("main")).not_to_contain_text("swallow")
    shoot(second, "second-session")
    # The first session still has its turn (the two sessions share one server process and its models).
    expect(first.get_by_test_id("stChatMessage")).to_have_count(2)
    expect(first.get_by_test_id("stChatMessage").first).to_contain_text(question)


def test_a_user_has_no_documents_page_not_even_by_its_url(app_url, new_session):
    page = new_session(app_url)
    expect(page.get_by_placeholder(PLACEHOLDER)).to_be_visible()
    expect(nav_link(page, "About / status")).to_be_visible()
    assert nav_links(page) == ["Ask", "About / status"]
    page.goto(f"{app_url}/evaluate", wait_until="domcontentloaded")
    expect(page.get_by_text("Page not found")).to_be_visible()
    expect(page.get_by_role("heading", name="Evaluate", exact=True)).to_have_count(0)
    page.goto(f"{app_url}/documents", wait_until="domcontentloaded")
    # Not registered for this session: Streamlit says so and runs the main page instead.
    expect(page.get_by_text("Page not found")).to_be_visible()
    expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible()
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stFileUploader")).to_have_count(0)
    shoot(page, "user-documents-url")


def test_the_status_page_shows_models_index_and_health(app_url, new_session):
    page = new_session(app_url)
    expect(page.get_by_placeholder(PLACEHOLDER)).to_be_visible()
    go_to(page, "About / status", "About / status")
    main = page.get_by_role("main")
    expect(main).to_contain_text("pkg:qwen2.5-coder-0.5b-instruct")
    expect(main).to_contain_text("pkg:all-minilm-l6-v2")
    expect(main.get_by_test_id("stTable").filter(has_text="vector store")).to_contain_text("384-d vectors")
    shoot(page, "status")


@pytest.fixture
def fresh_app_url(tmp_path: Path) -> Iterator[str]:
    """A new server that nobody has visited yet, on a data folder holding one small document."""
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe fresh server test indexes this one note.\n", encoding="utf-8")
    webapp.index_folder(note, app_environment(tmp_path / "data"))
    with streamlit_app(tmp_path / "data", tmp_path / f"fresh-server-{tmp_path.name}.log") as app:
        yield app.url


def test_the_first_visitor_of_a_fresh_server_cannot_open_the_admin_page(fresh_app_url, new_session):
    """The very first request to a new server goes straight to /documents, from a user.

    The first script run of a server is where Streamlit's implicit multipage mode would show
    (a ``pages/`` folder beside ``app/main.py`` runs ``/documents`` as a page of its own).
    """
    page = new_session(f"{fresh_app_url}/documents")
    expect(page.get_by_text("Page not found")).to_be_visible()
    expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible()
    expect(page.get_by_role("heading", name="Documents", exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stFileUploader")).to_have_count(0)
    expect(nav_link(page, "About / status")).to_be_visible()
    assert nav_links(page) == ["Ask", "About / status"]
    shoot(page, "fresh-server-documents-url")


def test_the_first_visitor_of_a_fresh_server_can_sign_in(fresh_app_url, new_session):
    """The first session's first sign-in counts (it was silently lost in implicit multipage mode)."""
    page = new_session(fresh_app_url)
    expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible()
    expect(nav_link(page, "About / status")).to_be_visible()
    assert nav_links(page) == ["Ask", "About / status"]
    sign_in(page)
