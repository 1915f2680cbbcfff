"""The arrays at the edge: user data validated and encoded once, where it enters ``fit``,
``evaluate`` and the CLI; and the error every data problem raises."""

from __future__ import annotations

from collections.abc import Iterator

import jax.numpy as jnp
import numpy as np

from jaxnn import losses


class DataError(ValueError):
    """Data that cannot be used; the message names the file or array and the fix."""


def one_hot(labels, n_classes: int, dtype=np.float32) -> np.ndarray:
    """Integer labels ``(...)`` → one-hot rows ``(..., n_classes)``."""
    return np.eye(n_classes, dtype=dtype)[np.asarray(labels)]


def prepare(model, x, y, dtype, name: str = "data"):
    """``(x, y)`` checked against ``model`` and put on the device.

    ``model``: anything with ``input_shape``, ``output_shape``, ``loss`` and ``layers`` (every jaxnn
    model); read as plain attributes, so the data package stays below the layers.

    ``x``: ``(n, *input_shape)`` finite numbers (flattened images ``(n, H·W·C)`` are reshaped to
    the input shape), cast to ``dtype`` (integer tokens for a model that starts with an
    ``Embedding`` stay ``int32``). ``y``: integer labels ``(n,)`` in ``[0, classes)`` (labels
    ``(n, T)`` for sequence outputs ``(T, k)``) or finite targets shaped like the output; labels
    stay labels for losses that take them (cross-entropy; ``losses.IGNORE`` leaves one out) and
    become one-hot targets otherwise.

    Raises:
        DataError: naming ``name`` and the problem (rank, dtype, length, NaN/inf, label range, empty).
    """
    x, y = np.asarray(x), np.asarray(y)
    input_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if x.ndim < 2:
        raise DataError(f"{name}: x must have one row per example, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{name}: x must hold numbers, got dtype {x.dtype}")
    if len(x) == 0:
        raise DataError(f"{name}: no examples (x has shape {x.shape})")
    if x.shape[1:] != input_shape:
        if int(np.prod(x.shape[1:])) != int(np.prod(input_shape)):
            what = (f"{x.shape[1]} features but the network expects {input_shape[0]}"
                    if x.ndim == 2 and len(input_shape) == 1 else
                    f"examples of shape {x.shape[1:]} but the network expects {input_shape}")
            raise DataError(f"{name}: x has {what}")
        x = x.reshape(len(x), *input_shape)
    if len(y) != len(x):
        raise DataError(f"{name}: x has {len(x)} examples but y has {len(y)}; they must match")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise DataError(f"{name}: x contains {bad} NaN/inf values; clean or impute them first")
    lead, n_outputs = out_shape[:-1], out_shape[-1]
    labels = y.ndim == 1 + len(lead)
    if labels:
        n_classes = n_outputs if losses.classifies(model.loss, n_outputs) else None
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{name}: {y.ndim}-D y must be integer class labels, got dtype {y.dtype}")
        if y.shape[1:] != lead:
            raise DataError(f"{name}: labels have shape {y.shape}, expected (n, {', '.join(map(str, lead))})")
        takes = losses.get(model.loss).labels                 # and then IGNORE leaves a label out
        kept = y[y != losses.IGNORE] if takes else y
        if n_classes is not None and kept.size and (kept.min() < 0 or kept.max() >= n_classes):
            left_out = f" (or {losses.IGNORE}: left out)" if takes else ""
            raise DataError(f"{name}: labels must lie in 0..{n_classes - 1}{left_out}, found "
                            f"{y.min()}..{y.max()}")
        if not losses.get(model.loss).labels:
            y, labels = one_hot(y, n_outputs) if n_outputs > 1 else y[..., None], False
    elif not (y.ndim == 2 + len(lead) and y.shape[1:-1] == lead):
        want = ", ".join(map(str, lead))
        raise DataError(f"{name}: y must be labels (n{', ' if lead else ''}{want}) or targets "
                        f"(n, {want + ', ' if lead else ''}outputs), got {y.shape}")
    elif not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
        raise DataError(f"{name}: y must hold finite numbers")
    if not labels and y.shape[-1] != n_outputs:
        raise DataError(f"{name}: y has {y.shape[-1]} columns but the network has {n_outputs} outputs")
    if getattr(model.layers[0], "integer_input", False):     # tokens stay integers
        if not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"{name}: x must hold integer tokens for {model.layers[0]}, got {x.dtype}")
        x_dev = jnp.asarray(x, jnp.int32)
    else:
        x_dev = jnp.asarray(x, dtype)
    return x_dev, jnp.asarray(y, jnp.int32) if labels else jnp.asarray(y, dtype)


def prepare_stream(model, tokens, name: str = "data") -> jnp.ndarray:
    """A token stream ``(n,)`` checked against a language model (``model`` as in
    [`prepare`][jaxnn.data.arrays.prepare]) and put on the device as ``int32``: integer tokens in ``[0,
    vocab)`` (``vocab``: the model's outputs), at least one window of ``T + 1`` (``T = input_shape[0]``).

    Raises:
        DataError: naming ``name`` and the problem.
    """
    if isinstance(tokens, (tuple, list)) and len(tokens) == 2:
        raise DataError(f"{name}: sampling 'windows' trains on one token stream; pass the tokens "
                        "(n,) themselves, not (x, y)")
    tokens = np.asarray(tokens)
    context, vocab = model.input_shape[0], model.output_shape[-1]
    if not getattr(model.layers[0], "integer_input", False):
        raise DataError(f"{name}: sampling 'windows' is for a language model that reads tokens "
                        f"(one starting with an Embedding), not {model.layers[0]}")
    if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise DataError(f"{name}: a token stream is a 1-D array of integer tokens, got "
                        f"{tokens.dtype} of shape {tokens.shape}")
    if len(tokens) < context + 1:
        raise DataError(f"{name}: {len(tokens)} tokens hold no window of {context + 1} (the context "
                        "and the next token); use a longer text or a smaller context")
    if tokens.min() < 0 or tokens.max() >= vocab:
        raise DataError(f"{name}: tokens must lie in 0..{vocab - 1} (the model's vocabulary), found "
                        f"{tokens.min()}..{tokens.max()}")
    return jnp.asarray(tokens, jnp.int32)


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)`` (the last may be shorter)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))
