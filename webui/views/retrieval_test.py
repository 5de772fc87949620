"""Retrieval test page: pick knowledge bases, type a question, see every candidate and its fate."""

from __future__ import annotations

import streamlit as st

from webui.i18n import N_, t
from webui.retrieval_table import fate, rows, summary
from webui.session import call, client

st.title(t("Retrieval test"))
st.caption(
    t(
        "Search the way knowledge-base chat does and see every candidate chunk: its rank and score at each "
        "stage, and which threshold or cut dropped it. Nothing is stored and no answer is generated."
    )
)
api = client()
names = call(api.knowledge_bases, default=[]) or []
if not names:
    st.info(t("There is no knowledge base you can read yet."))
    st.stop()
picked = st.multiselect(t("Knowledge bases"), names, default=names[:1], key="rt_kbs")
query = st.text_input(t("Question"), key="rt_query", max_chars=2000)
with st.expander(t("Retrieval settings"), icon=":material/tune:"):
    col_k, col_t, col_r = st.columns(3)
    top_k = col_k.number_input(t("Chunks kept (top_k)"), 1, 100, 3, key="rt_top_k")
    threshold = col_t.slider(t("score_threshold (distance)"), 0.0, 2.0, 1.0, 0.05, key="rt_threshold")
    min_relevance = col_r.slider(t("min_relevance"), 0.0, 1.0, 0.0, 0.05, key="rt_min_relevance")
    mode = st.radio(
        t("Search"),
        [N_("Knowledge base setting"), N_("Hybrid"), N_("Vector only")],
        format_func=t,
        horizontal=True,
        key="rt_mode",
    )
    rerank = st.toggle(t("Rerank"), key="rt_rerank", help=t("Needs a configured reranker (kb.reranker)."))

if st.button(t("Search"), type="primary", key="rt_go", disabled=not (picked and query.strip())):
    body = {
        "knowledge_base_name": picked,
        "query": query,
        "top_k": int(top_k),
        "score_threshold": float(threshold),
        "min_relevance": float(min_relevance),
        "hybrid": {"Hybrid": True, "Vector only": False}.get(mode),
        "rerank": rerank,
    }
    st.session_state["rt_result"] = call(lambda: api.retrieval_test(body))

result = st.session_state.get("rt_result")
if result:
    if result.get("rewritten_query"):
        st.info(t("Searched for: {query}", query=result["rewritten_query"]))
    st.markdown(summary(result))
    timings = result.get("timings_ms") or {}
    if timings:
        st.caption(" · ".join(f"{stage} {ms:.0f} ms" for stage, ms in timings.items()))
    st.dataframe(rows(result), hide_index=True, use_container_width=True, key="rt_table")
    for number, candidate in enumerate(result.get("candidates", []), start=1):
        relevance = candidate.get("relevance", 0.0)
        title = t(
            "{number}. {fate} · {file} · relevance {relevance}",
            number=number,
            fate=fate(candidate),
            file=candidate.get("file_name", ""),
            relevance=f"{relevance:.3f}",
        )
        with st.expander(title):
            st.text(candidate.get("text", ""))
