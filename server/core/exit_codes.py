"""Exit codes a service process uses to tell the launcher why it ended."""

from __future__ import annotations

# sysexits.h's EX_CONFIG: the service's configuration is refused (a wrong cluster secret, ...).
# Restarting it cannot help, so the launcher gives up on it at once instead of healing it.
EXIT_CONFIG = 78
