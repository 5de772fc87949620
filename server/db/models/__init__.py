"""Every table, imported here so migrations and ``metadata`` see them all."""

from server.db.base import Base
from server.db.models.conversation import Conversation, Message
from server.db.models.knowledge_base import FileDoc, KnowledgeBase, KnowledgeFile, TempKnowledgeBase
from server.db.models.mcp_connection import McpConnection

metadata = Base.metadata

__all__ = [
    "Base",
    "Conversation",
    "FileDoc",
    "KnowledgeBase",
    "KnowledgeFile",
    "McpConnection",
    "Message",
    "TempKnowledgeBase",
    "metadata",
]
