"""Date groups of the conversation list (Today, Yesterday, Previous 7 days, ...), in the user's time zone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from webui.i18n import N_

TODAY, YESTERDAY, WEEK, MONTH, OLDER = (
    N_("Today"),
    N_("Yesterday"),
    N_("Previous 7 days"),
    N_("Previous 30 days"),
    N_("Older"),
)
ORDER = (TODAY, YESTERDAY, WEEK, MONTH, OLDER)


def zone(name: str | None) -> tzinfo:
    """The browser's time zone by IANA name; UTC when it is missing or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse(stamp: Any) -> datetime | None:
    """A stored timestamp (ISO text or datetime; naive ones are UTC, as the backend stores them)."""
    if isinstance(stamp, datetime):
        value = stamp
    elif isinstance(stamp, str) and stamp:
        try:
            value = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def group_of(day: date, today: date) -> str:
    age = (today - day).days
    if age <= 0:
        return TODAY
    if age == 1:
        return YESTERDAY
    if age <= 7:
        return WEEK
    if age <= 30:
        return MONTH
    return OLDER


def group(
    items: Iterable[dict[str, Any]], now: datetime, tz: tzinfo, field: str = "updated_at"
) -> list[tuple[str, list[dict[str, Any]]]]:
    """The items by the local day of ``field``, groups newest first, each keeping the items' order.

    An item whose timestamp cannot be read goes to "Older".
    """
    today = now.astimezone(tz).date()
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        stamp = parse(item.get(field)) or parse(item.get("created_at"))
        label = group_of(stamp.astimezone(tz).date(), today) if stamp else OLDER
        groups.setdefault(label, []).append(item)
    return [(label, groups[label]) for label in ORDER if label in groups]
