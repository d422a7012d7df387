"""Monitor (admins): latency, errors, cache hits, tokens, cost and feedback over time, as charts.

The numbers come from the monitoring store (``app.monitoring``), which the UI and the REST API both
append to, so this page shows every route; feedback comes from ``app.feedback``. The page only reads.
"""

from __future__ import annotations

import math
import time

import pandas as pd
import streamlit as st

from app import monitor_stats
from app.services import services
from app.session import current_principal
from generation.render import safe_markdown

# window -> (days, chart bucket): hourly points for a day, daily ones beyond
WINDOWS = {
    "Last 24 hours": (1, "h"),
    "Last 7 days": (7, "D"),
    "Last 30 days": (30, "D"),
    "Last 90 days": (90, "D"),
}

if not current_principal().is_admin:  # not registered for users; this is the second lock
    st.error("This page is for admins.")
    st.stop()

svc = services()
st.title("Monitor")
if svc.recorder is None:
    st.info("Monitoring is not recorded in this process.")
    st.stop()

window = st.selectbox("Window", list(WINDOWS), index=1)
days, freq = WINDOWS[window]
table = monitor_stats.frame(svc.recorder.records(since=time.time() - days * 86400))
st.caption(
    f"{len(table)} question(s) from the app and the REST API; kept "
    f"{svc.settings.monitor_retention_days:g} days (`ASKDOCS_MONITOR_RETENTION_DAYS`). Times are UTC."
)


def shown(value: float, fmt: str) -> str:
    return "—" if math.isnan(value) else fmt.format(value)


if table.empty:
    st.info("No questions in this window yet.")
else:
    total = monitor_stats.totals(table)
    columns = st.columns(5)
    columns[0].metric("Questions", f"{int(total['questions'])}")
    columns[1].metric("p95 latency", shown(total["p95 s"], "{:.2f} s"))
    columns[2].metric("Error rate", shown(total["error rate"], "{:.1%}"))
    columns[3].metric("Cache hit rate", shown(total["cache hit rate"], "{:.1%}"))
    columns[4].metric("Estimated cost", f"${total['cost USD']:.4f}")

    st.subheader("Latency (s, question to full answer)")
    st.line_chart(monitor_stats.latency(table, freq))
    st.subheader("Error rate and cache hit rate")
    st.line_chart(monitor_stats.rates(table, freq))
    usage = monitor_stats.usage(table)
    st.subheader("Tokens per day")
    st.bar_chart(usage[["tokens in", "tokens out"]])
    st.subheader("Estimated cost per day (USD)")
    st.bar_chart(usage[["cost (USD)"]])
    routed = monitor_stats.tiers(table)
    if not routed.empty:
        st.subheader("Routing: answers by tier")
        st.caption(
            "Simple questions go to the fast model, hard ones to the strong one; cached answers reach neither."
        )
        st.bar_chart(routed[["answers"]])
        st.dataframe(
            routed.style.format({"share": "{:.0%}", "p50 total s": "{:.2f}", "cost (USD)": "${:.4f}"})
        )
    unpriced = int((~table["priced"].astype(bool)).sum())
    if unpriced:
        st.warning(
            f"{unpriced} answer(s) came from an API model with no price in `ASKDOCS_MODEL_PRICES`; "
            "they count as $0."
        )

st.subheader("Feedback")
counts = svc.feedback.counts()
rated = counts["up"] + counts["down"]
left, right = st.columns([1, 2])
left.metric(
    "Thumbs up",
    f"{counts['up'] / rated:.0%}" if rated else "—",
    help=f"{counts['up']} up, {counts['down']} down",
)
left.bar_chart(pd.DataFrame({"answers": [counts["up"], counts["down"]]}, index=["up", "down"]))
comments = [r for r in svc.feedback.latest(200) if r.comment][:10]
with right:
    if not comments:
        st.caption("No comments yet.")
    for r in comments:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.created_at))
        st.markdown(safe_markdown(f"{'👍' if r.rating == 'up' else '👎'} **{when}** — {r.comment}"))
