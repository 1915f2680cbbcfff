"""Exercises that grade themselves: derive a backward pass, write it, check it against ``jax.vjp``.

Each exercise names a forward (written out in its ``task``) and the backward to write; ``check``
runs yours on random inputs and compares every result with ``jax.vjp`` of the forward: *exact*
(rounding only), *close* (right up to float noise) or *wrong* — then with a hint read from the
error: a transposed result, a missing batch mean, a factor 2, a flipped sign, or the exercise's
typical slip (the derivative at ``z`` instead of at ``a``, the mean and variance of LayerNorm
treated as constants, ...)::

    from jaxnn import exercises
    exercises.show("sigmoid")                          # the task and the signature
    def sigmoid_backward(z, a, g):
        return g * a * (1 - a)
    exercises.check("sigmoid", sigmoid_backward)       # prints a line per result; .passed

Shapes are batch-first (one example per row), as everywhere in jaxnn: a Dense layer computes
``z = x Wᵀ + b`` with ``W`` of shape ``(n_out, n_in)``. Costs are means over the batch.
Runs in float64 when ``jax_enable_x64`` is on, else float32 with matching tolerances.
Solutions: `jaxnn.exercises.solutions` (try first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.exercises import conv, makemore, mlp, norms, sequences
from jaxnn.exercises.base import Exercise, _autodiff, _normal
from jaxnn.exercises.conv import col2im, im2col

__all__ = ["COURSE", "EXERCISES", "NAMES", "Exercise", "Report", "Result", "check", "col2im", "im2col",
           "show"]

COURSE = (
    'sigmoid',
    'quadratic',
    'softmax_cross_entropy',
    'dense',
    'maxpool',
    'conv',
    'layernorm',
    'attention',
    'relu',
    'tanh',
    'hinge',
    'dropout',
    'batchnorm',
    'spatial_batchnorm',
    'groupnorm',
    'rnn_step',
    'rnn',
    'lstm_step',
    'lstm',
    'embedding',
    'temporal_affine',
    'temporal_softmax',
    'makemore',
)
"""The exercises in the order the course (lesson 7) takes them; each topic's module defines them."""
_BY_TOPIC = {**mlp.EXERCISES, **conv.EXERCISES, **norms.EXERCISES, **sequences.EXERCISES,
             **makemore.EXERCISES}
EXERCISES: dict[str, Exercise] = {name: _BY_TOPIC[name] for name in COURSE}
NAMES = tuple(EXERCISES)


def show(name: str) -> None:
    """Print exercise ``name``'s task and the signature to write."""
    ex = _get(name)
    print(f"{name}: write {ex.signature}\n  {ex.task}")


def _get(name: str) -> Exercise:
    if name not in EXERCISES:
        raise ValueError(f"no exercise {name!r}; the exercises are {', '.join(NAMES)}")
    return EXERCISES[name]


class Result(NamedTuple):
    name: str          # e.g. "dW"
    status: str        # "exact", "close", "wrong" or "not yet" (None returned for it)
    max_abs: float
    max_rel: float
    hint: str


class Report(NamedTuple):
    exercise: str
    results: list[Result]

    @property
    def passed(self) -> bool:
        return all(r.status in ("exact", "close") for r in self.results)

    def __str__(self):
        lines = [f"{self.exercise}: {'passed' if self.passed else 'not yet'}"]
        for r in self.results:
            diff = f"max abs diff {r.max_abs:.1e}, rel {r.max_rel:.1e}" if np.isfinite(r.max_abs) else ""
            lines.append(f"  {r.name:<7} {r.status:<6} {diff}{' — ' + r.hint if r.hint else ''}")
        return "\n".join(lines)


def _tolerances(dtype):
    return (1e-12, 1e-7) if dtype == jnp.float64 else (1e-5, 1e-3)   # exact, close (relative)


def _diff(got, want):
    abs_ = float(np.max(np.abs(got - want))) if want.size else 0.0
    return abs_, abs_ / max(float(np.max(np.abs(want))), 1e-30)


def _hint(got, want, m: int, mistakes, close_rel) -> str:
    """Why ``got`` is not ``want``: a known shape or scale slip, one of the exercise's mistakes."""
    if got.shape == want.shape and not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        return (f"{bad} of {got.size} values are NaN or infinite: a division by zero, the log or "
                "square root of a negative or zero, or an inf − inf (is an ε missing?)")
    if got.shape != want.shape:
        if got.shape == want.T.shape and want.ndim == 2:
            return f"transposed: the result should be {want.shape}, got {got.shape}"
        if got.shape[1:] == want.shape and got.shape[0] == m:
            return f"sum over the batch axis: one gradient of shape {want.shape}, not one per example"
        return f"shape {got.shape}, expected {want.shape}"

    def same(a, b):
        return b is not None and b.shape == a.shape and _diff(a, b)[1] <= close_rel

    for hint, wrong in mistakes.items():
        if same(got, wrong):
            return hint
    if want.ndim == 2 and want.shape[0] == want.shape[1] and same(got, want.T):
        return "transposed"
    for factor, hint in ((-1.0, "the sign is flipped"), (2.0, "off by a factor 2"),
                         (0.5, "off by a factor ½"), (float(m), f"missing the batch mean: divide by m = {m}"),
                         (1 / m, f"divided by m = {m} once too often")):
        if same(got, factor * want):
            return hint
    return "no typical slip matches: compare each step with the equations"


def _inputs(name: str, seed: int, dtype) -> tuple[dict, np.ndarray]:
    """The exercise's random inputs and the upstream gradient ``g`` (1 for a cost, else drawn),
    from ``seed``, drawn in NumPy: grading compiles only the reference and the student's ops."""
    rng = np.random.default_rng(seed)
    ex = EXERCISES[name]
    inputs = ex.inputs(rng, dtype)
    out = jax.eval_shape(lambda i: ex.forward(**i), inputs)
    return inputs, (np.ones((), dtype) if out.ndim == 0 else _normal(rng, out.shape, dtype))


@functools.partial(jax.jit, static_argnums=0)
def _reference(name: str, inputs: dict, g):
    """The forward's output, ``jax.vjp``'s gradients for ``g`` and the student function's
    arguments: grading compiles one program per exercise for them, not one per operation."""
    ex = EXERCISES[name]
    out = ex.forward(**inputs)
    return out, _autodiff(ex.forward, inputs, ex.grads, g), ex.args(inputs, out, g)


@functools.partial(jax.jit, static_argnums=0)
def _mistakes(name: str, inputs, out, g):
    """Each of the exercise's typical slips' results (hint -> results), one compiled program."""
    return {hint: f(inputs, out, g) for hint, f in EXERCISES[name].mistakes.items()}


def check(name: str, backward: Callable, *, seed: int = 0, verbose: bool = True) -> Report:
    """Grade ``backward`` for exercise ``name`` against ``jax.vjp`` of its forward.

    The inputs are random (``seed``); ``g`` (the upstream gradient) too, except for costs (``g``
    = 1). Returns a `Report` (``report.passed``), printed when ``verbose``.
    """
    ex = _get(name)
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    inputs, g = _inputs(name, seed, dtype)
    out, want, student_args = _reference(name, inputs, g)
    student_args = [int(a) if a.ndim == 0 else a for a in student_args]   # (a count, such as vocab)
    got = backward(*student_args)
    if got is None:
        report = Report(name, [Result("result", "wrong", np.inf, np.inf,
                                      f"nothing returned yet: write {ex.signature}")])
        if verbose:
            print(report)
        return report
    got = got if isinstance(got, tuple | list) else (got,)
    names = [n.strip() for n in ex.signature.split("->")[1].strip(" ()").split(",")]
    exact_rel, close_rel = _tolerances(dtype)
    want = [np.asarray(w) for w in want]
    wrong_by = functools.cache(lambda: jax.tree.map(np.asarray, _mistakes(name, inputs, out, g)))
    m = student_args[0].shape[0]                          # batch (or sequence) length
    results = []
    if len(got) != len(want):
        results.append(Result("result", "wrong", np.inf, np.inf,
                              f"return {len(want)} arrays ({', '.join(names)}), got {len(got)}"))
        got = ()
    for i, (name_i, a, w) in enumerate(zip(names, got, want)):
        if a is None:                                     # working on one output at a time
            results.append(Result(name_i, "not yet", np.inf, np.inf, f"None returned: write {name_i} next"))
            continue
        a = np.asarray(a, dtype)
        if a.shape == w.shape:
            abs_, rel = _diff(a, w)
            if rel <= exact_rel:
                results.append(Result(name_i, "exact", abs_, rel, ""))
                continue
            if rel <= close_rel:
                results.append(Result(name_i, "close", abs_, rel, "right up to rounding"))
                continue
        else:
            abs_ = rel = np.inf
        mistakes = {h: r[i] for h, r in wrong_by().items() if r[i] is not None}   # only when wrong
        results.append(Result(name_i, "wrong", abs_, rel, _hint(a, w, m, mistakes, close_rel)))
    report = Report(name, results)
    if verbose:
        print(report)
    return report
