"""Exceptions that the CLI turns into one clear line and an exit code."""

from __future__ import annotations


class OlearnError(Exception):
    """Base class: a problem the user can fix; the message says what and how."""

    exit_code = 2


class SpecError(OlearnError, ValueError):
    """A run spec, flag or plug-in reference is invalid (exit code 2)."""


class EnvError(OlearnError):
    """An environment misbehaved during a run, e.g. returned NaN (exit code 2)."""


class AgentError(OlearnError):
    """An agent misbehaved during a run, e.g. returned an invalid action (exit code 2)."""


class RunExistsError(OlearnError):
    """The output directory already holds a run and neither --force nor --resume was given."""


class UsageError(OlearnError):
    """Conflicting or malformed command-line input, or a damaged run directory (exit code 2)."""


class RunFailedError(OlearnError):
    """A run that started failed; the message says where and names ``OUT/error.log`` (exit 1)."""

    exit_code = 1
