"""The remote worker's template survives FastChat's prompt rendering as structured messages."""

from __future__ import annotations

import pytest
from fastchat.conversation import Conversation, SeparatorStyle

from server.llm.remote_worker import message_template, prompt_to_messages


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
