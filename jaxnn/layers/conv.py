"""Convolution and pooling with hand-derived backward passes. Layout NHWC (images ``(m, H, W, C)``),
kernels HWIO ``(kh, kw, C_in, C_out)`` — the layout XLA prefers on GPU/TPU.

Forward (seed 000's ``y_ij = Σ_mn x_{i+m, j+n} k_mn``, a correlation, per channel pair, plus bias):
``lax.conv_general_dilated``. Backward, written out:

- input gradient: a *full* correlation of the output gradient (dilated by the stride) with the
  kernel flipped in both spatial axes and its channel axes swapped (the transposed convolution);
- kernel gradient: a correlation of the (padded) input with the output gradient, contracting
  over the batch: ``∂C/∂k[i, j, c, o] = Σ_{n,y,x} x[n, s·y + i, s·x + j, c] g[n, y, x, o]``;
- bias gradient: ``Σ_{n,y,x} g[n, y, x, o]``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn.layers.dense import _check_rank

_NHWC = ("NHWC", "HWIO", "NHWC")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pads(size, k, s, padding):
    """(low, high) padding of one spatial axis, as lax does for 'VALID'/'SAME'."""
    if padding == "valid":
        return 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


@dataclasses.dataclass(frozen=True)
class Conv2D:
    """2-D convolution (correlation): ``filters`` output channels, ``kernel_size``, ``stride``,
    ``padding`` ``"valid"`` or ``"same"``. Params ``{"k": (kh, kw, C_in, C_out), "b": (C_out,)}``.

    On CPU, XLA runs convolutions inside a compiled loop several times slower than outside one
    (jax-ml/jax#12868), so the layer asks ``fit`` to step from Python there (``loop_preference``).
    """

    loop_preference = {"cpu": "python"}   # not a field: class-level, read by fit(loop="auto")

    filters: int
    kernel_size: int | tuple[int, int] = 3
    stride: int | tuple[int, int] = 1
    padding: str = "valid"

    def __post_init__(self):
        object.__setattr__(self, "kernel_size", _pair(self.kernel_size))
        object.__setattr__(self, "stride", _pair(self.stride))
        if self.padding not in ("valid", "same"):
            raise ValueError(f"Conv2D padding must be 'valid' or 'same', got {self.padding!r}")
        if min(self.kernel_size) <= 0 or min(self.stride) <= 0 or self.filters <= 0:
            raise ValueError(f"{self}: filters, kernel_size and stride must be positive")

    def _geometry(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"{self}: expects images (H, W, C) per example, got {in_shape}; "
                             "add a channel axis, e.g. x.reshape(-1, 28, 28, 1)")
        pads = [_pads(n, k, s, self.padding)
                for n, k, s in zip(in_shape[:2], self.kernel_size, self.stride)]
        for n, k, (lo, hi) in zip(in_shape[:2], self.kernel_size, pads):
            if k > n + lo + hi:
                raise ValueError(f"{self}: kernel {self.kernel_size} is larger than the padded "
                                 f"input {in_shape[:2]}; use a smaller kernel or padding='same'")
        out = [(n + lo + hi - k) // s + 1
               for n, k, s, (lo, hi) in zip(in_shape[:2], self.kernel_size, self.stride, pads)]
        return pads, (*out, self.filters)

    def init(self, key, in_shape, dtype=jnp.float32):
        _, out_shape = self._geometry(in_shape)
        kh, kw = self.kernel_size
        fan_in = kh * kw * in_shape[2]
        k = math.sqrt(2.0 / fan_in) * jax.random.normal(key, (kh, kw, in_shape[2], self.filters),
                                                        dtype)
        return {"k": k, "b": jnp.zeros(self.filters, dtype)}, out_shape

    def forward(self, params, x):
        _check_rank(self, x, 4, "(batch, H, W, C)")
        if x.shape[3] != params["k"].shape[2]:
            raise ValueError(f"{self}: input has {x.shape[3]} channels, the kernel expects "
                             f"{params['k'].shape[2]} (input shape {x.shape})")
        pads, _ = self._geometry(x.shape[1:])
        x = x.astype(params["k"].dtype)   # e.g. uint8 pixels or float64 data into float32 kernels
        y = lax.conv_general_dilated(x, params["k"], self.stride, pads, dimension_numbers=_NHWC)
        return y + params["b"], x

    def backward(self, params, x, g):
        k = params["k"]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        pads, _ = self._geometry(x.shape[1:])
        # leftover rows/cols the forward stride skipped at the high end of each axis
        rem = [(n + lo + hi - kk) % s
               for n, kk, s, (lo, hi) in zip(x.shape[1:3], (kh, kw), (sh, sw), pads)]
        # ∂C/∂x: full correlation of the stride-dilated g with the flipped, channel-swapped kernel
        flipped = jnp.flip(k, axis=(0, 1)).transpose(0, 1, 3, 2)          # (kh, kw, C_out, C_in)
        full = [(kk - 1 - lo, kk - 1 - hi + r) for kk, (lo, hi), r in zip((kh, kw), pads, rem)]
        g_x = lax.conv_general_dilated(g, flipped, (1, 1), full, lhs_dilation=(sh, sw),
                                       dimension_numbers=_NHWC)
        # ∂C/∂k: correlate x with g (dilated by the stride), contracting over the batch axis
        trim = [(lo, hi - r) for (lo, hi), r in zip(pads, rem)]
        g_k = lax.conv_general_dilated(x, g, (1, 1), trim, rhs_dilation=(sh, sw),
                                       dimension_numbers=("CHWN", "IHWO", "HWNC"))
        return {"k": g_k, "b": g.sum(axis=(0, 1, 2))}, g_x


@dataclasses.dataclass(frozen=True)
class _Pool2D:
    """``pool × pool`` windows every ``stride`` pixels (default ``stride = pool``: non-overlapping);
    ``stride < pool`` overlaps them, ``stride > pool`` skips pixels. Rows/columns that do not fill
    a window are dropped ('valid'): ``H_out = (H − pool) // stride + 1``."""

    pool: int = 2
    stride: int | None = None

    def __post_init__(self):
        for name in ("pool", "stride"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ValueError(f"{type(self).__name__} {name} must be a positive int, got {v!r}")

    @property
    def _step(self) -> int:
        return self.pool if self.stride is None else self.stride

    def _out(self, H, W):
        return (H - self.pool) // self._step + 1, (W - self.pool) // self._step + 1

    def _index(self, H, W):
        """Row and column indices of every window, broadcasting to ``(H_out, pool, W_out, pool)``."""
        Ho, Wo = self._out(H, W)
        rows = (jnp.arange(Ho) * self._step)[:, None] + jnp.arange(self.pool)
        cols = (jnp.arange(Wo) * self._step)[:, None] + jnp.arange(self.pool)
        return rows[:, :, None, None], cols[None, None]

    def _windows(self, x):
        """``(m, H_out, pool, W_out, pool, C)``: a reshape when the windows tile the image, else a
        gather."""
        _check_rank(self, x, 4, "(batch, H, W, C)")
        p = self.pool
        m, H, W, C = x.shape
        if H < p or W < p:
            raise ValueError(f"{self}: pool {p} is larger than the input {x.shape[1:3]}")
        Ho, Wo = self._out(H, W)
        if self._step == p:
            return x[:, : Ho * p, : Wo * p].reshape(m, Ho, p, Wo, p, C)
        rows, cols = self._index(H, W)
        return x[:, rows, cols, :]

    def init(self, key, in_shape, dtype=jnp.float32):
        if len(in_shape) != 3 or min(in_shape[:2]) < self.pool:
            raise ValueError(f"{self}: needs images (H, W, C) at least {self.pool} wide, "
                             f"got {in_shape}")
        return {}, (*self._out(*in_shape[:2]), in_shape[2])

    def _unwindow(self, gw, x_shape):
        """The window gradients back onto the pixels (col2im): a reshape and pad when the windows
        tile the image, else a scatter-add (overlapping windows add up)."""
        m, Ho, p, Wo, _, C = gw.shape
        if self._step == p:
            g_x = gw.reshape(m, Ho * p, Wo * p, C)
            return jnp.pad(g_x, ((0, 0), (0, x_shape[1] - Ho * p), (0, x_shape[2] - Wo * p),
                                 (0, 0)))
        rows, cols = self._index(*x_shape[1:3])
        return jnp.zeros(x_shape, gw.dtype).at[:, rows, cols, :].add(gw)


@dataclasses.dataclass(frozen=True)
class MaxPool2D(_Pool2D):
    """Max over ``pool × pool`` windows every ``stride`` pixels (default: non-overlapping).

    Backward routes each window's gradient to its maximum (overlapping windows add up). Ties: the
    gradient is shared equally among the tied maxima (as ``jax.grad`` of ``max`` does), so the
    total is preserved.
    """

    def forward(self, params, x):
        y = self._windows(x).max(axis=(2, 4))
        return y, (x, y)

    def backward(self, params, cache, g):
        x, y = cache
        w = self._windows(x)
        is_max = (w == y[:, :, None, :, None, :]).astype(g.dtype)
        share = is_max / is_max.sum(axis=(2, 4), keepdims=True)
        return {}, self._unwindow(share * g[:, :, None, :, None, :], x.shape)


@dataclasses.dataclass(frozen=True)
class AvgPool2D(_Pool2D):
    """Mean over ``pool × pool`` windows every ``stride`` pixels; backward spreads ``g / pool²``
    evenly over each window."""

    def forward(self, params, x):
        return self._windows(x).mean(axis=(2, 4)), x

    def backward(self, params, x, g):
        m, Ho, Wo, C = g.shape
        p = self.pool
        spread = jnp.broadcast_to(g[:, :, None, :, None, :] / (p * p), (m, Ho, p, Wo, p, C))
        return {}, self._unwindow(spread, x.shape)
