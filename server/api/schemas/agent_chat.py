"""Wire models of ``/chat/agent_chat`` (Langchain-Chatchat 0.2's fields and events)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from server.api.schemas.chat import HistoryMessage
from server.api.schemas.common import ConversationIdField, NonBlankStr


class AgentChatRequest(BaseModel):
    model_config = {
        "json_schema_extra": {"examples": [{"query": "What is 17 * 23?", "stream": True, "temperature": 0}]}
    }

    query: NonBlankStr = Field(..., description="The user's question.")
    conversation_id: ConversationIdField = ""
    history: list[HistoryMessage] = Field(default_factory=list, description="Earlier turns, oldest first.")
    stream: bool = Field(False, description="Stream each step and the answer as Server-Sent Events.")
    model_name: str | None = Field(None, description="A running model; default: the configured default_llm.")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature; 0 is greedy.")
    max_tokens: int | None = Field(
        None, ge=1, description="Tokens per model step; null = agent.step_max_tokens."
    )
    prompt_name: str = Field("default", min_length=1, description="Prompt template name (agent_chat).")
    tool_calling: Literal["auto", "native", "react"] = Field(
        "auto",
        description="native: OpenAI tool calls; react: the ReAct text protocol; auto: the model's "
        "configured `tool_calling` (native for tool-trained models and remote endpoints).",
    )
    tool_choice: str | None = Field(
        None,
        description="A tool the agent must call first (e.g. calculator, or an MCP tool as server__tool). "
        "The call is enforced (decoded under the tool's schema where the model server can).",
    )
    tools: list[str] | None = Field(
        None,
        description="The tools to offer (names from /agent/tools); null = every tool available.",
    )


class StepDetail(BaseModel):
    """The same step as structured data, for clients that do not want to parse the strings."""

    index: int
    tool: str | None = Field(description="The tool called; null when the reply was not a valid call.")
    input: str
    output: str
    ok: bool


class ToolsEvent(BaseModel):
    """``data: {"tools": [...]}``: one tool step, as Chatchat's lines (name, status, input, output)."""

    tools: list[str]
    step: StepDetail
    message_id: str | None = Field(
        None, description="The stored message's id, for /chat/feedback; on the first event of a stream only."
    )


class FinalAnswerEvent(BaseModel):
    """``data: {"final_answer": ...}``: always the last event of a run."""

    final_answer: str


class WholeAgentAnswer(BaseModel):
    """The single event of ``stream=false``."""

    tools: list[str]
    answer: str
    final_answer: str
    message_id: str = Field(..., description="The stored message's id, for /chat/feedback.")
