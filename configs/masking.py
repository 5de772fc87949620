"""Masking of credentials inside text: ``scheme://user:password@host`` keeps the user, hides the password.

Used wherever configuration or messages leave the process: ``--print-config``, ``/server/configs``
and every log record.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, cast

MASK = "***"
T = TypeVar("T")
# scheme://user:password@  (the password may hold anything but '@', '/' and whitespace)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*):(?P<password>[^\s/@]+)@")


def mask_url_credentials(text: str) -> str:
    """``postgresql://chatchat:secret@db/x`` → ``postgresql://chatchat:***@db/x``, anywhere in ``text``."""
    if "://" not in text:
        return text
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", text)


def mask_urls_in(data: T) -> T:
    """The same data with every string's URL passwords masked (dicts and lists walked)."""
    masked: Any = data
    if isinstance(data, str):
        masked = mask_url_credentials(data)
    elif isinstance(data, dict):
        masked = {key: mask_urls_in(value) for key, value in data.items()}
    elif isinstance(data, list):
        masked = [mask_urls_in(value) for value in data]
    return cast(T, masked)
