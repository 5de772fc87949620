"""Agent chat: the tools this app can offer, the protocol the model speaks, one agent run per request.

Models trained to call tools get OpenAI ``tools`` (served by our API server for every worker,
see ``server/llm/tool_api.py``); any other model gets the ReAct text protocol, which even a
135M model can be steered by. Both agents stream the same events, so the route does not care.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from configs import Settings
from server.agent.loop import Agent, Event, Message
from server.agent.mcp.registry import Caller, McpRegistry
from server.agent.react_strategy import ReactStrategy
from server.agent.tool_calling import StepPiece, ToolCallingStrategy
from server.agent.toolbox import Toolbox, build_toolbox
from server.agent.tools.base import ToolError
from server.agent.tools.knowledge_base import KnowledgeSearcher
from server.api.errors import BadRequest
from server.api.schemas.agent_chat import AgentChatRequest
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates
from server.search import SearchEngines

CHAT_TYPE = "agent_chat"
NATIVE_PROMPT = "native"


class AgentService:
    def __init__(
        self,
        settings: Settings,
        llm: LLMClient,
        prompts: PromptTemplates,
        engines: SearchEngines | None,
        mcp: McpRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts
        self._engines = engines
        self._mcp = mcp

    async def toolbox(
        self, knowledge: KnowledgeSearcher | None = None, caller: Caller | None = None
    ) -> Toolbox:
        """Built-in tools, then the tools of every MCP server the caller may use that answers in time."""
        extra = await self._mcp.tools(caller) if self._mcp is not None else []
        return build_toolbox(self._settings.agent, self._engines, knowledge, extra)

    def native(self, request: AgentChatRequest, model: str) -> bool:
        if request.tool_calling != "auto":
            return request.tool_calling == "native"
        configured = self._settings.llm_models.get(model)
        return configured is not None and configured.uses_native_tools(model)

    async def start(
        self,
        request: AgentChatRequest,
        knowledge: KnowledgeSearcher | None = None,
        caller: Caller | None = None,
    ) -> AsyncIterator[Event]:
        """Validate and open the first model step (errors become HTTP statuses), then run the agent."""
        toolbox = await self.toolbox(knowledge, caller)
        if request.tools is not None:
            try:
                toolbox = toolbox.only(request.tools)
            except ToolError as exc:
                raise BadRequest(f"tools: {exc}") from exc
        first_tool = None
        if request.tool_choice is not None:
            tool = toolbox.find(request.tool_choice)
            if tool is None:
                raise BadRequest(
                    f"tool_choice {request.tool_choice!r} is not an available tool; "
                    f"tools: {', '.join(toolbox.names)}"
                )
            first_tool = tool.name
        history: list[Message] = [{"role": m.role, "content": m.content} for m in request.history]
        model = request.model_name or self._settings.default_llm
        max_tokens = request.max_tokens or self._settings.agent.step_max_tokens
        if self.native(request, model):
            return await self._start_native(request, toolbox, history, model, max_tokens, first_tool)

        prompt = self._prompts.render(
            CHAT_TYPE,
            request.prompt_name,
            input=request.query,
            tools=toolbox.describe(),
            tool_names=", ".join(toolbox.names),
        )

        async def open_text(messages: list[Message]) -> AsyncIterator[str]:
            return await self._llm.chat_stream(model, messages, request.temperature, max_tokens)

        async def open_forced(
            messages: list[Message], functions: list[dict[str, Any]], choice: dict[str, Any]
        ) -> AsyncIterator[StepPiece]:
            return await self._llm.chat_tools_stream(
                model, messages, functions, choice, request.temperature, max_tokens
            )

        strategy = ReactStrategy(toolbox, open_text, open_forced)
        agent = Agent(toolbox, self._settings.agent, strategy, first_tool)
        return await agent.start([*history, {"role": "user", "content": prompt}])

    async def _start_native(
        self,
        request: AgentChatRequest,
        toolbox: Toolbox,
        history: list[Message],
        model: str,
        max_tokens: int,
        first_tool: str | None,
    ) -> AsyncIterator[Event]:
        functions = toolbox.functions()
        # The ReAct template's format instructions would fight the tool protocol: a template of the
        # name "native" (or the default one's plain question) is used instead.
        name = request.prompt_name if request.prompt_name != "default" else NATIVE_PROMPT
        prompt = self._prompts.render(CHAT_TYPE, name, input=request.query)

        async def open_step(
            messages: list[dict[str, Any]], choice: str | dict[str, Any]
        ) -> AsyncIterator[StepPiece]:
            return await self._llm.chat_tools_stream(
                model, messages, functions, choice, request.temperature, max_tokens
            )

        agent = Agent(toolbox, self._settings.agent, ToolCallingStrategy(open_step), first_tool)
        return await agent.start([*history, {"role": "user", "content": prompt}])
