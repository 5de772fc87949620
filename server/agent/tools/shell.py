"""Run one command on the server (no shell syntax); only offered when ``agent.shell_enabled`` is set."""

from __future__ import annotations

import asyncio
import shlex

from server.agent.tools.base import TextTool, ToolError

MAX_OUTPUT_BYTES = 64 * 1024


class ShellTool(TextTool):
    name = "shell"
    description = "Run one command on the server and read its output, e.g. 'ls -l'. Input: the command."
    argument, argument_required = "command", True

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout

    async def run(self, tool_input: str) -> str:
        try:
            argv = shlex.split(tool_input.strip().strip("`"))
        except ValueError as exc:
            raise ToolError(f"cannot split the command: {exc}") from exc
        if not argv:
            raise ToolError("give a command")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            raise ToolError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self._timeout)
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise ToolError(f"the command ran longer than {self._timeout:g} s and was stopped") from exc
        text = output[:MAX_OUTPUT_BYTES].decode("utf-8", errors="replace").strip()
        return f"exit code {process.returncode}\n{text}" if text else f"exit code {process.returncode}"
