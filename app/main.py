"""askdocs web app: ``streamlit run app/main.py``.

This script only decides who the visitor is and which pages they get; each
page lives in ``app/views`` (not ``pages/``: a folder of that name beside the
main script switches Streamlit to its older, implicit multipage mode, in which
a page can run without this script). A page an account may not use is not registered
at all, so its URL does not resolve for that account, and the admin pages
(Documents, Evaluate, Monitor) check the role again themselves.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `streamlit run app/main.py` puts app/ on sys.path, not the project root the packages live in.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.session import current_principal, sign_in_sidebar  # noqa: E402
from retrieval.stores import StoreUnavailable  # noqa: E402

INDEX_DOWN = "The document index is unreachable; try again shortly."

st.set_page_config(page_title="askdocs", page_icon=":material/description:", layout="wide")

principal = current_principal()
sign_in_sidebar(principal)

pages = [st.Page(str(ROOT / "app" / "views" / "ask.py"), title="Ask", icon=":material/chat:", default=True)]
if principal.is_admin:
    pages.append(
        st.Page(str(ROOT / "app" / "views" / "documents.py"), title="Documents", icon=":material/folder:")
    )
    pages.append(
        st.Page(str(ROOT / "app" / "views" / "evaluate.py"), title="Evaluate", icon=":material/analytics:")
    )
    pages.append(
        st.Page(str(ROOT / "app" / "views" / "monitor.py"), title="Monitor", icon=":material/monitoring:")
    )
pages.append(
    st.Page(
        str(ROOT / "app" / "views" / "status.py"), title="About / status", icon=":material/monitor_heart:"
    )
)
try:
    st.navigation(pages).run()
except StoreUnavailable:
    # A Chroma server that went away: every page says so instead of showing a traceback (the Ask page
    # says it itself and keeps the conversation), and the next run after the server returns works.
    st.error(INDEX_DOWN)

if os.environ.get("ASKDOCS_APP_DEBUG_PRINCIPAL"):  # read by the browser tests only
    st.caption(f"principal: {principal.name} admin={principal.is_admin}")
