"""Who is calling: the one value every access decision is made from."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN, USER, PENDING = "admin", "user", "pending"
ROLES = (ADMIN, USER, PENDING)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``id`` is None only for the single-user mode's local caller, who may do everything and whose
    queries are never filtered by owner.
    """

    id: int | None
    email: str
    role: str
    display_name: str = ""
    via_key: bool = False

    @classmethod
    def local(cls) -> Principal:
        """The caller of the single-user mode (``auth.enabled: false``)."""
        return cls(id=None, email="local", role=ADMIN, display_name="local user")

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def is_pending(self) -> bool:
        return self.role == PENDING

    @property
    def unrestricted(self) -> bool:
        """Single-user mode: no owner filter applies."""
        return self.id is None

    @property
    def owner_id(self) -> int | None:
        """The owner to store on new rows (None in single-user mode)."""
        return self.id
