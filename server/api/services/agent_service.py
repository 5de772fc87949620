"""Agent chat: the tools this app can offer, the ReAct prompt, and one agent run per request.

The agent speaks the ReAct text protocol because FastChat's OpenAI API server ignores the
``tools`` parameter. A native tool-calling agent for servers that support it would be another
class with ReactAgent's ``start(messages) -> events`` shape, chosen here; the events, the
toolbox and the route stay as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from configs import Settings
from server.agent.loop import Event, Message, ReactAgent
from server.agent.toolbox import Toolbox, build_toolbox
from server.agent.tools.knowledge_base import KnowledgeSearcher
from server.api.schemas.agent_chat import AgentChatRequest
from server.api.services.llm_client import LLMClient
from server.api.services.prompts import PromptTemplates
from server.search import SearchEngines

CHAT_TYPE = "agent_chat"


class AgentService:
    def __init__(
        self, settings: Settings, llm: LLMClient, prompts: PromptTemplates, engines: SearchEngines | None
    ) -> None:
        self._settings = settings
        self._llm = llm
        self._prompts = prompts
        self._engines = engines

    def toolbox(self, knowledge: KnowledgeSearcher | None = None) -> Toolbox:
        return build_toolbox(self._settings.agent, self._engines, knowledge)

    async def start(self, request: AgentChatRequest, knowledge: KnowledgeSearcher | None = None
                    ) -> AsyncIterator[Event]:
        """Validate and open the first model step (errors become HTTP statuses), then run the agent."""
        toolbox = self.toolbox(knowledge)
        prompt = self._prompts.render(
            CHAT_TYPE, request.prompt_name,
            input=request.query, tools=toolbox.describe(), tool_names=", ".join(toolbox.names),
        )
        history: list[Message] = [{"role": m.role, "content": m.content} for m in request.history]
        model = request.model_name or self._settings.default_llm
        max_tokens = request.max_tokens or self._settings.agent.step_max_tokens

        async def open_step(messages: list[Message]) -> AsyncIterator[str]:
            return await self._llm.chat_stream(model, messages, request.temperature, max_tokens)

        agent = ReactAgent(toolbox, self._settings.agent, open_step)
        return await agent.start([*history, {"role": "user", "content": prompt}])
