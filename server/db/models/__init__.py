"""Every table, imported here so migrations and ``metadata`` see them all."""

from server.db.base import Base
from server.db.models.conversation import Conversation, Message

metadata = Base.metadata

__all__ = ["Base", "Conversation", "Message", "metadata"]
