"""Follow-up questions become standalone queries before retrieval; a bad rewrite never makes it worse."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from configs import Settings
from server.api.schemas.chat import HistoryMessage
from server.api.services.prompts import PromptTemplates
from server.api.services.query_rewriter import (
    HISTORY_MESSAGES,
    QueryRewriter,
    RewrittenQuery,
    choose,
    clean_rewrite,
    history_text,
)

HISTORY = [
    {"role": "user", "content": "Who leads the Amber Falcon team?"},
    {"role": "assistant", "content": "Mei Lin leads   the Amber Falcon team."},
]


class ScriptedModel:
    """Answers every chat call with one fixed text and records the prompts (model-free logic only)."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    async def chat(
        self, model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int | None
    ) -> str:
        self.calls.append({"model": model, "messages": messages, "temperature": temperature})
        return self.answer


def rewriter(answer: str, **kb: Any) -> tuple[QueryRewriter, ScriptedModel]:
    settings = Settings(kb={"samples_kb": None, **kb})
    model = ScriptedModel(answer)
    return QueryRewriter(settings, model, PromptTemplates(settings.prompt_templates)), model  # type: ignore[arg-type]


def test_history_is_rendered_as_turns_and_bounded() -> None:
    assert history_text(HISTORY) == (
        "User: Who leads the Amber Falcon team?\nAssistant: Mei Lin leads the Amber Falcon team."
    )
    long = [HistoryMessage(role="user", content=f"turn {i}") for i in range(20)]
    assert history_text(long).count("\n") == HISTORY_MESSAGES - 1 and "turn 19" in history_text(long)
    assert history_text([{"role": "system", "content": "be nice"}]) == ""


def test_the_models_rewrite_is_cleaned_or_refused() -> None:
    question = "When was it founded?"
    assert clean_rewrite('Rewritten question: "When was the Amber Falcon team founded?"\nmore', question) == (
        "When was the Amber Falcon team founded?"
    )
    assert (
        clean_rewrite("独立问题：琥珀猎鹰团队是哪年成立的？", "它是哪年成立的？")
        == "琥珀猎鹰团队是哪年成立的？"
    )
    assert clean_rewrite("  \n ", question) is None
    assert clean_rewrite("x" * 500, question) is None  # runaway generation


def test_a_follow_up_is_rewritten_with_the_condense_template() -> None:
    rewrite, model = rewriter("When was the Amber Falcon team founded?")
    result = asyncio.run(rewrite.rewrite("When was it founded?", HISTORY, "smollm2"))
    assert result == RewrittenQuery(
        "When was it founded?", "When was the Amber Falcon team founded?", "model"
    )
    assert result.event() == {
        "rewritten_query": "When was the Amber Falcon team founded?",
        "rewrite_method": "model",
    }
    prompt = model.calls[0]["messages"][0]["content"]
    assert "User: Who leads the Amber Falcon team?" in prompt and prompt.endswith(
        "Last question: When was it founded?\nRewritten question:"
    )
    assert model.calls[0]["temperature"] == 0.0


def test_no_history_or_switched_off_means_no_model_call() -> None:
    rewrite, model = rewriter("anything")
    assert not asyncio.run(rewrite.rewrite("Who leads Amber Falcon?", [], "smollm2")).rewritten
    assert not asyncio.run(rewrite.rewrite("When was it founded?", HISTORY, "smollm2", False)).rewritten
    off, off_model = rewriter("anything", rewrite_query=False)
    assert not asyncio.run(off.rewrite("When was it founded?", HISTORY, "smollm2")).rewritten
    assert asyncio.run(off.rewrite("When was it founded?", HISTORY, "smollm2", True)).rewritten
    assert model.calls == [] and len(off_model.calls) == 1


@pytest.mark.parametrize(
    "output",
    [
        "\n\n",  # nothing
        "User: When was it founded?",  # the question repeated
        "Which programming language does Amber Falcon use?",  # another question
        "x" * 400,  # runaway
    ],
)
def test_an_unusable_rewrite_falls_back_to_the_history_query(output: str) -> None:
    rewrite, _ = rewriter(output)
    result = asyncio.run(rewrite.rewrite("When was it founded?", HISTORY, "smollm2"))
    assert result == RewrittenQuery(
        "When was it founded?",
        "When was it founded? When was it founded? Who leads the Amber Falcon team?",
        "history",
    )


def test_a_chinese_rewrite_keeps_the_question_words() -> None:
    history = [
        {"role": "user", "content": "紫铜秃鹫团队的负责人是谁？"},
        {"role": "assistant", "content": "王芳。"},
    ]
    assert choose("它的值班多久轮换？", history, "紫铜秃鹫团队的值班多久轮换一次？").method == "model"
    assert choose("它的值班多久轮换？", history, "它的值班多久轮换？").query == (
        "它的值班多久轮换？ 它的值班多久轮换？ 紫铜秃鹫团队的负责人是谁？"
    )


def test_the_condense_template_is_editable_like_the_others() -> None:
    settings = Settings(
        kb={"samples_kb": None},
        prompt_templates={"condense_question": {"default": "H={{ history }} Q={{ question }}"}},
    )
    model = ScriptedModel("standalone")
    rewrite = QueryRewriter(settings, model, PromptTemplates(settings.prompt_templates))  # type: ignore[arg-type]
    asyncio.run(rewrite.rewrite("q?", HISTORY[:1], "smollm2"))
    assert model.calls[0]["messages"][0]["content"] == "H=User: Who leads the Amber Falcon team? Q=q?"
