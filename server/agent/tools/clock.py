"""The current date and time, which a model cannot know by itself."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.agent.tools.base import TextTool


class DateTimeTool(TextTool):
    name = "current_datetime"
    description = "Get the current date, weekday and time. Input: a time zone like Europe/Paris, or nothing."
    argument, argument_required = "timezone", False

    async def run(self, tool_input: str) -> str:
        zone_name = tool_input.strip().strip("`'\"").strip()
        now = datetime.now(UTC)
        zone = None
        if zone_name and zone_name.lower() not in ("none", "local", "now", "today", "utc"):
            try:
                zone = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                zone = None
        local = now.astimezone(zone) if zone else now.astimezone()
        where = zone_name if zone else "server time"
        return (
            f"{local:%A, %Y-%m-%d %H:%M:%S} {local.tzname() or ''} ({where}); UTC {now:%Y-%m-%d %H:%M:%S}"
        ).replace("  ", " ")
