"""The conversation list's date groups: by the day in the user's time zone, newest group first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from webui import dates


def _item(name: str, stamp: str | None) -> dict[str, str | None]:
    return {"id": name, "name": name, "updated_at": stamp}


def test_conversations_fall_into_today_yesterday_the_week_the_month_and_older() -> None:
    now = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)
    items = [
        _item("now", "2026-05-20T08:59:00"),
        _item("last night", "2026-05-19T23:30:00"),
        _item("monday", "2026-05-14T12:00:00+00:00"),
        _item("week ago", "2026-05-13T00:00:00Z"),
        _item("april", "2026-04-25T10:00:00"),
        _item("last year", "2025-12-01T10:00:00"),
        _item("broken", "not a date"),
    ]
    grouped = dates.group(items, now, UTC)
    assert [(label, [i["id"] for i in group]) for label, group in grouped] == [
        ("Today", ["now"]),
        ("Yesterday", ["last night"]),
        ("Previous 7 days", ["monday", "week ago"]),
        ("Previous 30 days", ["april"]),
        ("Older", ["last year", "broken"]),
    ]


def test_the_day_is_the_users_not_the_servers() -> None:
    """23:30 UTC on the 19th is the morning of the 20th in Shanghai: today there, yesterday in UTC."""
    now = datetime(2026, 5, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    item = _item("a", "2026-05-19T23:30:00")
    assert dates.group([item], now, dates.zone("Asia/Shanghai"))[0][0] == "Today"
    assert dates.group([item], now, dates.zone(None))[0][0] == "Yesterday"


def test_an_unknown_time_zone_is_utc_and_empty_groups_are_left_out() -> None:
    assert dates.zone("Mars/Olympus_Mons") is UTC
    now = datetime.now(UTC)
    grouped = dates.group([_item("x", (now - timedelta(days=40)).isoformat())], now, UTC)
    assert [label for label, _ in grouped] == ["Older"]
    assert dates.group([], now, UTC) == []
