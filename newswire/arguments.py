"""Command-line arguments: a parser whose errors are one line, and checked value types.

Light on purpose (argparse only): every command imports it before anything else.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import NoReturn

MOMENT_FORMATS = "YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] or either with an offset such as +02:00"


class UsageError(Exception):
    """A bad value found after the arguments were parsed: one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line naming the bad value (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """An integer of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def positive_float(text: str) -> float:
    """A number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def tcp_port(text: str) -> int:
    """A TCP port number, 1 to 65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1 to 65535)")
    return int(text)


def broker_url(text: str) -> str:
    """A ``kafka://HOST:PORT`` broker URL (see :func:`schemas.settings.check_broker_url`)."""
    from schemas.settings import check_broker_url

    try:
        return check_broker_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def language_code(text: str) -> str:
    """An ISO 639-1 language code: two letters, lower-cased."""
    if len(text) != 2 or not text.isalpha():
        raise argparse.ArgumentTypeError(f"{text!r} is not a language code (two letters: en, de)")
    return text.lower()


def moment(text: str) -> datetime:
    """An ISO 8601 date or date and time; without an offset, UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time: use {MOMENT_FORMATS}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
