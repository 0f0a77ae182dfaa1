"""Confirmation for commands that create or destroy: asked in a terminal, `--yes` otherwise."""

from __future__ import annotations

import sys

import typer


def confirm_or_yes(question: str, yes: bool) -> None:
    """Return when confirmed (or ``yes``); abort on 'no'; ValueError without a terminal."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ValueError(f"{question.rstrip('?')}: give --yes to confirm when not in a terminal")
    typer.confirm(question, abort=True)


__all__ = ["confirm_or_yes"]
