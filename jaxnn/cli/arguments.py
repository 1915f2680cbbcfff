"""Argument types for ``argparse``, shared by the ``jaxnn`` command and the experiment scripts: each
turns a bad value into argparse's one-line usage error that names the flag and what is expected."""

from __future__ import annotations

import argparse
import math

from jaxnn import activations


def sizes(text: str) -> list[int]:
    """``"128,64"`` → ``[128, 64]``: layer widths, each a positive int."""
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 128,64, got {text!r}") from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def positive(kind):
    """A parser of ``kind`` (``int`` or ``float``) values that are finite and above 0."""
    what = {int: "a positive integer", float: "a positive finite number"}[kind]

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: …)`` only where there is a default worth showing."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or action.help is None:
            return action.help
        return super()._get_help_string(action)


def activation(text: str) -> str:
    """An activation's name (see [`jaxnn.activations`][]), checked, with its parameter if any."""
    try:
        return activations.get(text).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def probability(text: str) -> float:
    """A rate in ``[0, 1)`` (a Dropout rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value
