"""Characters as tokens, for language models: a corpus that needs no download, a character
vocabulary, a split by position and random windows drawn inside the compiled training loop.

The built-in corpus is the text of Python's own reference topics (``pydoc_data.topics``, shipped
with every CPython: ≈465,000 characters of English and code); any UTF-8 file works as well.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from jaxnn.data.arrays import DataError


def load_text(path=None) -> tuple[str, str]:
    """``(text, description)``: the UTF-8 file at ``path``, or the built-in corpus.

    Raises:
        DataError: the file is missing, not UTF-8, or empty.
    """
    if path is None:
        from pydoc_data import topics

        text = "".join(topics.topics.values())
        return text, f"Python's reference topics (pydoc_data, {len(text):,} characters)"
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataError(f"text file {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; give a UTF-8 text file") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason}); convert it, e.g. "
                        "iconv -t utf-8") from None
    if not text:
        raise DataError(f"{path} is empty; give a text with at least a few hundred characters")
    return text, f"{path} ({len(text):,} characters)"


class Vocab(NamedTuple):
    """The distinct characters of a text, sorted; a character's token is its index."""

    chars: str

    @classmethod
    def of(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    def encode(self, text: str) -> np.ndarray:
        """Characters → tokens ``(len(text),)`` int32; ``DataError`` for a character not in it."""
        index = {c: i for i, c in enumerate(self.chars)}
        missing = sorted(set(text) - set(index))
        if missing:
            raise DataError(f"characters not in the vocabulary: {''.join(missing)[:20]!r}")
        return np.fromiter((index[c] for c in text), np.int32, len(text))

    def decode(self, tokens) -> str:
        return "".join(self.chars[int(t)] for t in np.asarray(tokens).ravel())

    def save(self, path) -> None:
        """Write the vocabulary as JSON ``{"chars": ...}`` (what ``jaxnn generate`` reads back)."""
        Path(path).write_text(json.dumps({"chars": self.chars}))

    @classmethod
    def load(cls, path) -> Vocab:
        """Read a vocabulary `save` wrote; ``DataError`` naming the file otherwise."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"no {path.name} in {path.parent}: it maps the model's tokens to "
                            "characters; keep it in the run folder jaxnn train wrote")
        try:
            return cls(json.loads(path.read_text())["chars"])
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{path} is not the vocabulary jaxnn train wrote (a JSON object with "
                            "\"chars\"); restore it from the run folder") from None


def first_word(text: str) -> str:
    """The first word of ``text`` and the space after it (a prompt drawn from the text itself):
    e.g. ``"The "``; the first character where the text has no word."""
    match = re.search(r"\w+\s?", text)
    return match.group(0) if match else text[:1]


def split(tokens: np.ndarray, context: int, train_fraction: float = 0.9):
    """``(train, validation)`` token arrays cut by position; each must hold a window of
    ``context + 1`` tokens (the input and its next-token labels), else ``DataError``."""
    cut = int(len(tokens) * train_fraction)
    train, val = tokens[:cut], tokens[cut:]
    if min(len(train), len(val)) < context + 1:
        raise DataError(f"the text ({len(tokens):,} characters) is too short for context {context}: "
                        f"the training and validation parts need {context + 1} characters each; "
                        "use a longer text or a smaller context")
    return train, val


def windows(tokens: np.ndarray, context: int, stride: int | None = None):
    """Windows every ``stride`` tokens (default ``context``) as arrays for [`jaxnn.fit`][]:
    inputs ``(n, context)`` and next-token labels ``(n, context)``."""
    starts = np.arange(0, len(tokens) - context, stride or context)
    idx = starts[:, None] + np.arange(context + 1)
    return tokens[idx[:, :-1]], tokens[idx[:, 1:]]


def window_starts(key: jax.Array, n: int, shape: tuple[int, ...], context: int) -> jax.Array:
    """Random first positions, ``shape``, of windows of ``context + 1`` tokens in a stream of ``n``."""
    return jax.random.randint(key, shape, 0, n - context)


def windows_at(tokens: jax.Array, starts: jax.Array, context: int):
    """The windows that begin at ``starts (batch,)`` (jittable): inputs ``x`` ``(batch, context)``
    and the next tokens ``y`` ``(batch, context)`` (``y[:, t] = x[:, t + 1]``)."""
    rows = jax.vmap(lambda s: jax.lax.dynamic_slice(tokens, (s,), (context + 1,)))(starts)
    return rows[:, :-1], rows[:, 1:]


def random_windows(key: jax.Array, tokens: jax.Array, batch_size: int, context: int):
    """``batch_size`` windows at random positions (jittable), as `windows_at` gives them."""
    return windows_at(tokens, window_starts(key, tokens.shape[0], (batch_size,), context), context)
