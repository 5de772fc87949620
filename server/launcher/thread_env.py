"""How long llama.cpp's OpenMP threads spin at a barrier before they sleep, for every service.

llama.cpp's CPU build computes each layer on an OpenMP team whose threads meet at hundreds of
barriers per token. libgomp lets a waiting thread spin about 3 ms before it sleeps. That is free
on an idle machine, but once any other program needs a core (another user's job, a browser,
an ingestion) the thread being waited for is descheduled while its partner spins away the very
core it needs: measured here on 2 cores with one busy program in another session, decoding fell
from ~55 to ~1 token/s. A short spin (``GOMP_SPINCOUNT=1000``, a few microseconds) keeps the
idle-machine speed and still gives 13-20 tokens/s next to the busy program
(``bench/contention.py``).

Set in the launcher before any service is spawned, so every child inherits it; a value the user
exported wins.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

SPIN_DEFAULTS = {"GOMP_SPINCOUNT": "1000"}


def calm_spinning(env: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Fill in the short-spin defaults the user did not set; returns what took effect."""
    for name, value in SPIN_DEFAULTS.items():
        env.setdefault(name, value)
    return {name: env[name] for name in SPIN_DEFAULTS}
