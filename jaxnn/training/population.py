"""Many networks in one compiled call: seeds, learning rates, L2 strengths trained together.

A population of ``N`` members is the pytrees of one network with a leading member axis on every
leaf: parameters, optimiser state and PRNG keys. [`fit`][jaxnn.training.population.fit] steps all members
through each compiled epoch together (``jax.vmap`` over the member axis inside every step), so ``N`` networks
as small as the course's keep a device as busy as one large one, and "95.07%" becomes "95.1 ± 0.2%
over 8 seeds, trained in one call". Each member draws its own batches from its own key: a member
equals a separate [`jaxnn.fit`][] with that key and those hyperparameters (float64: ≤ 1e-12).

Per-member hyperparameters live in the optimiser state (``optax.inject_hyperparams``), so one
compiled program serves a whole grid::

    keys = jax.random.split(jax.random.key(0), 8)
    params = population.init(keys, net, "normal")                          # (8, ...) every leaf
    opt, state = population.optimizer(jaxnn.nielsen_l2, params, learning_rate=[0.1, 0.5] * 4,
                                      lmbda=5.0, n=50_000)                   # a list: per member
    params, hist = jaxnn.fit_population(net, params, train, optimizer=opt, opt_state=state,
                                        epochs=30, batch_size=10, keys=keys,
                                        eval_data={"validation": val, "test": test})
    population.summary(hist, "test", select="validation")    # test accuracy at best validation
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import model as M
from jaxnn.model import Params
from jaxnn.training.train import fit as train_fit


def size(tree) -> int:
    """The number of members ``N``: the common leading axis of every leaf, else ``ValueError``."""
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree.leaves(tree)}
    if len(sizes) != 1 or None in sizes:
        raise ValueError("a population's arrays must all have the same leading member axis "
                         f"(got leading sizes {sorted(map(str, sizes))}); make the params with "
                         "population.init and the keys with jax.random.split(key, N)")
    return sizes.pop()


def member(tree, i: int):
    """Member ``i`` of a population: every leaf's ``[i]`` (a plain network's pytree)."""
    return jax.tree.map(lambda leaf: leaf[i], tree)


def _keys(keys, n: int | None = None) -> jax.Array:
    """``keys`` as ``(N,)`` typed PRNG keys (raw ``(N, 2)`` ``uint32`` ones wrapped), else ``ValueError``."""
    if isinstance(keys, jax.Array | np.ndarray) and keys.dtype == np.uint32 and keys.ndim == 2:
        keys = jax.random.wrap_key_data(keys)
    typed = isinstance(keys, jax.Array) and jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if not typed or keys.ndim != 1 or n is not None and keys.shape != (n,):
        want = f"{n} PRNG keys" if n is not None else "a 1-D array of PRNG keys"
        raise ValueError(f"keys must be {want}, one per member, e.g. jax.random.split(key, "
                         f"{n or 'N'}); got {getattr(keys, 'shape', keys)!r}")
    return keys


def init(keys: jax.Array, model, scheme: str | None = None, dtype=jnp.float32) -> Params:
    """One [`jaxnn.init`][] per key, stacked: ``keys (N,)`` → params with a leading axis ``N``;
    member ``i`` equals ``jaxnn.init(keys[i], model, scheme, dtype)`` bit for bit."""
    return jax.vmap(lambda k: M.init(k, model, scheme, dtype))(_keys(keys))


def grid(**axes) -> dict[str, list]:
    """Every combination of the given values, as equal-length lists (one entry per member).

    Examples:
        >>> grid(learning_rate=[0.1, 0.5], lmbda=[0.0, 5.0], seed=range(3))["lmbda"]
        [0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 0.0, 0.0, 0.0, 5.0, 5.0, 5.0]
    """
    combos = list(itertools.product(*axes.values()))
    return {name: [c[i] for c in combos] for i, name in enumerate(axes)}


def optimizer(factory: Callable[..., optax.GradientTransformation], params: Params,
              **hyperparams) -> tuple[optax.GradientTransformation, optax.OptState]:
    """An optimiser for a population and its stacked initial state ``(optimizer, opt_state)``.

    ``factory`` is an optimiser factory such as [`jaxnn.sgd`][], [`jaxnn.nielsen_l2`][] or
    ``optax.adam``; each hyperparameter is one value for every member, or a list with one value per
    member (then it lives in the state, via ``optax.inject_hyperparams``, and may differ).
    """
    n = size(params)
    varied = {k: np.asarray(v) for k, v in hyperparams.items() if np.ndim(v) > 0}
    for name, values in varied.items():
        if values.shape != (n,):
            raise ValueError(f"hyperparameter {name} has {values.size} values for {n} members; "
                             "give one value for all members or a list with one per member")
    fixed = {k: v for k, v in hyperparams.items() if k not in varied}
    make = optax.inject_hyperparams(factory, static_args=tuple(fixed))
    state = jax.vmap(lambda p, h: make(**fixed, **h).init(M.split_state(p)[0]))(params, varied)
    return make(**fixed, **{k: v[0] for k, v in varied.items()}), state


def fit(model, params: Params, train, *, keys: jax.Array, **options: Any) -> tuple[Params, dict[str, list]]:
    """Train a population of ``N`` members in one compiled call per epoch (``jaxnn.fit_population``):
    [`jaxnn.fit`][]'s loop with a leading member axis.

    Args:
        params: stacked parameters, leading axis ``N`` ([`init`][jaxnn.training.population.init]).
        keys: ``(N,)`` PRNG keys, one per member: its batch order (and augmentation, Dropout).
        options: as for [`jaxnn.fit`][] (``optimizer``, ``epochs``, ``batch_size``,
            ``eval_data``, ``checkpoint``/``resume``, ``callbacks``, …), with these differences:
            ``opt_state`` is stacked ([`optimizer`][jaxnn.training.population.optimizer], for per-member
            hyperparameters; default ``optimizer.init`` for every member); ``devices`` splits the *members*
            over this many local devices (``N`` must be a multiple of their number); every eval set is also
            evaluated for the ensemble (the mean of the members' outputs, e.g. their probabilities).

    Returns:
        ``(params, history)``: params stacked as given; the history of [`jaxnn.fit`][] with a
        list of ``N`` values per epoch for ``train_loss`` and each ``{name}_loss``,
        ``{name}_accuracy``, plus ``{name}_ensemble_accuracy`` (``np.asarray`` gives ``(epochs,
        N)``). A member whose training loss becomes NaN/inf is named in a warning and carries NaN
        from then on; the others train on.
    """
    n = size(params)
    return train_fit(model, params, train, key=_keys(keys, n), members=n, **options)


def summary(history: Mapping[str, np.ndarray], report: str = "eval", select: str | None = None,
            at: str = "best") -> dict:
    """A population's result on eval set ``report``: accuracy mean ± std over members, the best
    member, the ensemble.

    Args:
        report: the eval set whose accuracy is reported (a name given to
            [`fit`][jaxnn.training.population.fit]).
        select: the eval set that picks each member's epoch (``at="best"``): ``None`` = ``report``
            itself (the peak epoch, as Nielsen's chapters 1 and 3 report), ``"validation"`` = test
            accuracy at the epoch of best validation accuracy (his chapter 6 protocol).
        at: ``"best"`` (as above) or ``"last"`` (the final epoch).

    Returns:
        ``{"mean", "std", "best", "members", "epochs", "ensemble", "diverged"}``: accuracies as
        fractions; ``std`` with ``ddof=1`` (0 for one member); ``members``/``epochs`` each
        member's accuracy and the epoch (1-based) it was taken at; ``ensemble`` the ensemble's
        accuracy on ``report`` at the epoch picked the same way from the ensemble's ``select``
        accuracy; ``diverged`` the number of members left out of mean/std as NaN.
    """
    if at not in ("best", "last"):
        raise ValueError(f"at must be 'best' or 'last', got {at!r}")
    for name in {report, select or report}:
        if f"{name}_accuracy" not in history:
            names = sorted(k[:-9] for k in history if k.endswith("_accuracy") and "ensemble" not in k)
            raise KeyError(f"no eval set {name!r} in the history; it has {names}")
    history = {k: np.asarray(v, np.float64) for k, v in history.items()}
    acc, chooser = history[f"{report}_accuracy"], history[f"{select or report}_accuracy"]
    if at == "last":
        picks = np.full(acc.shape[1], acc.shape[0] - 1)
        ens_pick = acc.shape[0] - 1
    else:
        picks = np.argmax(np.nan_to_num(chooser, nan=-1.0), axis=0)
        ens_pick = int(np.argmax(np.nan_to_num(history[f"{select or report}_ensemble_accuracy"], nan=-1.0)))
    members = acc[picks, np.arange(acc.shape[1])]
    members[~np.isfinite(history["train_loss"][-1])] = math.nan     # diverged: left out
    ok = members[np.isfinite(members)]
    return {"mean": float(np.mean(ok)) if ok.size else math.nan,
            "std": float(np.std(ok, ddof=1)) if ok.size > 1 else 0.0,
            "best": float(np.max(ok)) if ok.size else math.nan,
            "members": members.tolist(), "epochs": (picks + 1).tolist(),
            "ensemble": float(history[f"{report}_ensemble_accuracy"][ens_pick]),
            "diverged": int(acc.shape[1] - ok.size)}
