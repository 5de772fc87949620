"""Every table, imported here so migrations and ``metadata`` see them all."""

from server.db.base import Base
from server.db.models.conversation import Conversation, Message
from server.db.models.ingest_job import IngestJob
from server.db.models.kb_access import KnowledgeBaseAccess, KnowledgeBaseShare, TempKnowledgeBaseOwner
from server.db.models.knowledge_base import FileDoc, KnowledgeBase, KnowledgeFile, TempKnowledgeBase
from server.db.models.mcp_connection import McpConnection
from server.db.models.user import ApiKey, User

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Base",
    "Conversation",
    "FileDoc",
    "IngestJob",
    "KnowledgeBase",
    "KnowledgeBaseAccess",
    "KnowledgeBaseShare",
    "KnowledgeFile",
    "McpConnection",
    "Message",
    "TempKnowledgeBase",
    "TempKnowledgeBaseOwner",
    "User",
    "metadata",
]
