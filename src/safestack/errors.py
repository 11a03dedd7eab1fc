"""Errors that map to the CLI's exit codes (0 ok, 1 a gate failed, 2 bad input)."""


class SafestackError(Exception):
    exit_code = 2


class BadInput(SafestackError):
    """Bad user input: the message names the file, line and field (or the spec) that is wrong."""

    exit_code = 2


class GateFailed(SafestackError):
    exit_code = 1
