"""The retrieval test's results as rows a person can read: rank, fate, scores per stage, the span."""

from __future__ import annotations

from typing import Any

STAGES = ("vector", "keyword", "fused", "merged", "rerank")
WHY = {
    "score_threshold": "farther than score_threshold",
    "min_relevance": "below min_relevance",
    "top_k": "outranked (top_k)",
    "rerank_top_n": "reranked out (rerank_top_n)",
}


def fate(candidate: dict[str, Any]) -> str:
    """``kept #1``, or why it was dropped."""
    if candidate.get("rank"):
        return f"kept #{candidate['rank']}"
    return "dropped: " + WHY.get(str(candidate.get("dropped_by")), str(candidate.get("dropped_by")))


def _score(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "–"


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per candidate, best first, with its rank at each stage and its score there."""
    out = []
    for candidate in result.get("candidates", []):
        scores = candidate.get("scores") or {}
        ranks = candidate.get("ranks") or {}
        row: dict[str, Any] = {
            "result": fate(candidate),
            "knowledge base": candidate.get("knowledge_base_name") or "",
            "file": candidate.get("file_name", ""),
            "relevance": _score(candidate.get("relevance")),
            "distance": _score(candidate.get("score")),
        }
        for stage in STAGES:
            rank = ranks.get(stage)
            score = scores.get(stage) if stage != "merged" else None
            row[stage] = (
                "–" if rank is None else (f"#{rank}" + (f" ({score:.3f})" if score is not None else ""))
            )
        start, end = candidate.get("start"), candidate.get("end")
        row["span"] = f"{start}–{end}" if start is not None and end is not None else ""
        out.append(row)
    return out


def summary(result: dict[str, Any]) -> str:
    """One line: what was searched and how many chunks survived."""
    hybrid = result.get("hybrid") or {}
    modes = ", ".join(f"{kb}: {'hybrid' if on else 'vector'}" for kb, on in hybrid.items())
    parts = [
        f"{result.get('kept', 0)} kept of {len(result.get('candidates', []))} candidates",
        f"top_k {result.get('top_k')}",
        f"score_threshold {result.get('score_threshold')}",
        f"min_relevance {result.get('min_relevance')}",
        f"fusion {result.get('fusion')}",
        modes,
    ]
    if result.get("reranker"):
        parts.append(f"reranker {result['reranker']}")
    return " · ".join(p for p in parts if p)
