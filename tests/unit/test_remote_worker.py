"""The remote worker's template survives FastChat's prompt rendering as structured messages."""

from __future__ import annotations

import pytest
from fastchat.conversation import Conversation, SeparatorStyle

from server.llm.remote_worker import RemoteOpenAIWorker, message_template, prompt_to_messages
from server.llm.token_estimate import estimate_tokens


def render_like_the_api_server(messages: list[dict[str, str]]) -> str:
    """What FastChat's API server does with the template it fetched from the worker."""
    t = message_template()
    conv = Conversation(
        name=t.name,
        system_template=t.system_template,
        system_message=t.system_message,
        roles=t.roles,
        messages=[],
        offset=t.offset,
        sep_style=SeparatorStyle(int(t.sep_style)),
        sep=t.sep,
        sep2=t.sep2,
        stop_str=t.stop_str,
        stop_token_ids=t.stop_token_ids,
    )
    for message in messages:
        if message["role"] == "system":
            conv.set_system_message(message["content"])
        else:
            conv.append_message(conv.roles[0 if message["role"] == "user" else 1], message["content"])
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "hi"}],
        [
            {"role": "system", "content": "Be brief.\nVery."},
            {"role": "user", "content": "a: b\n### c"},
            {"role": "assistant", "content": "<|im_end|> user: x"},
            {"role": "user", "content": "你好"},
        ],
    ],
)
def test_messages_round_trip(messages: list[dict[str, str]]) -> None:
    assert prompt_to_messages(render_like_the_api_server(messages)) == messages


def test_a_plain_completion_prompt_is_one_user_message() -> None:
    assert prompt_to_messages("Once upon a time") == [{"role": "user", "content": "Once upon a time"}]


def remote_worker(context_length: int) -> RemoteOpenAIWorker:
    return RemoteOpenAIWorker(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "t",
        ["faraway"],
        5,
        base_url="http://127.0.0.1:3/v1",
        api_key=None,
        remote_model="faraway",
        context_length=context_length,
        register=False,
    )


def room_for_the_answer(worker: RemoteOpenAIWorker, prompt: str, max_tokens: int) -> int:
    """FastChat's API server: max_tokens cut to what the context leaves (<= 0 is refused)."""
    return min(max_tokens, worker.context_len - worker.count_token({"prompt": prompt})["count"])


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("The quick brown fox jumps over the lazy dog.", 11, 13),
        ("员工每年享有十五天带薪年假。", 14, 15),
        ("こんにちは、世界", 8, 9),
        ("연차 휴가는 15일입니다", 9, 12),
        ("VPN 证书每九十天轮换一次", 11, 14),
    ],
)
def test_token_estimates_count_cjk_characters_as_tokens(text: str, low: int, high: int) -> None:
    assert low <= estimate_tokens(text) <= high


def test_a_chinese_prompt_near_the_context_leaves_little_room_and_one_past_it_is_refused() -> None:
    worker = remote_worker(context_length=512)
    near = render_like_the_api_server([{"role": "user", "content": "请用中文回答" * 80}])  # 480 characters
    assert len(near) // 4 + 1 < 150  # what characters / 4 would count: room for 360 more tokens
    room = room_for_the_answer(worker, near, max_tokens=1024)
    assert 0 < room <= 30
    past = render_like_the_api_server([{"role": "user", "content": "请用中文回答" * 86}])  # 516 characters
    assert room_for_the_answer(worker, past, max_tokens=1024) <= 0
    english = render_like_the_api_server([{"role": "user", "content": "Please answer briefly. " * 80}])
    assert room_for_the_answer(worker, english, max_tokens=1024) > 0  # 1840 characters still fit
