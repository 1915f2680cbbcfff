"""Convolution and pooling with hand-derived backward passes. Layout NHWC (images ``(m, H, W, C)``),
kernels HWIO ``(kh, kw, C_in, C_out)`` — the layout XLA prefers on GPU/TPU.

The forward is ``y_ij = Σ_mn x_{i+m, j+n} k_mn`` (a correlation) per channel pair, plus bias.
[`Conv2D`][jaxnn.layers.conv.Conv2D] computes it, and its backward, by one of two algorithms:

``"matmul"`` (im2col: batching turns the layer into matrix products): gather every
``kh × kw × C_in`` patch of the padded input into a row of ``P`` (``(m·H_out·W_out, kh·kw·C_in)``);
then the layer is a dense layer on the patches, ``Y = P K + b`` with ``K`` the kernel reshaped to
``(kh·kw·C_in, C_out)``, and its backward is BP3/BP4's products (``δ`` = the output gradient with
one row per output pixel):

- ``∂C/∂K = Pᵀ δ``, ``∂C/∂b = Σ_rows δ``;
- ``∂C/∂P = δ Kᵀ``, and ``∂C/∂x`` = col2im of it: every patch's gradient added back onto the pixels
  it was gathered from (overlapping patches add up).

``"xla"``: ``lax.conv_general_dilated`` forward, and a backward written as two more convolutions:

- input gradient: a *full* correlation of the output gradient (dilated by the stride) with the
  kernel flipped in both spatial axes and its channel axes swapped (the transposed convolution);
- kernel gradient: a correlation of the (padded) input with the output gradient, contracting
  over the batch: ``∂C/∂k[i, j, c, o] = Σ_{n,y,x} x[n, s·y + i, s·x + j, c] g[n, y, x, o]``;
- bias gradient: ``Σ_{n,y,x} g[n, y, x, o]``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax

from jaxnn import initializers
from jaxnn.layers import base

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


def window_slices(x, window, stride, out_hw):
    """im2col's gather: for each offset ``(i, j)`` of a ``window`` (row-major, the order of
    ``k.reshape(-1, C_out)``), the strided slice ``x[:, i + s·y, j + s·x, :]`` over every output
    pixel ``(y, x)``: a list of ``kh·kw`` arrays ``(m, H_out, W_out, C)``."""
    (kh, kw), (sh, sw), (Ho, Wo) = window, stride, out_hw
    m, C = x.shape[0], x.shape[3]
    return [lax.slice(x, (0, i, j, 0), (m, i + (Ho - 1) * sh + 1, j + (Wo - 1) * sw + 1, C),
                      (1, sh, sw, 1)) for i in range(kh) for j in range(kw)]


def unslice(parts, window, stride, hw):
    """col2im, the adjoint of `window_slices`: each offset's ``(m, H_out, W_out, C)`` part
    put back where it was taken from in an ``(m, H, W, C)`` image (``stride − 1`` zeros between
    pixels), and the parts summed — pixels in several windows collect every window's share. When
    the windows tile the image (stride = window) that is an interleave: a transpose and a reshape,
    which XLA runs several times faster than the padded sum."""
    (kh, kw), (sh, sw), (H, W) = window, stride, hw
    m, Ho, Wo, C = parts[0].shape
    if (kh, kw) == (sh, sw):   # windows tile the image: interleave the parts (a transpose), pad
        tiles = jnp.stack(parts).reshape(kh, kw, m, Ho, Wo, C).transpose(2, 3, 0, 4, 1, 5)
        return jnp.pad(tiles.reshape(m, Ho * kh, Wo * kw, C),
                       ((0, 0), (0, H - Ho * kh), (0, W - Wo * kw), (0, 0)))
    zero = jnp.zeros((), parts[0].dtype)
    offsets = [(i, j) for i in range(kh) for j in range(kw)]
    return sum(lax.pad(part, zero, ((0, 0, 0), (i, H - i - (Ho - 1) * sh - 1, sh - 1),
                                    (j, W - j - (Wo - 1) * sw - 1, sw - 1), (0, 0, 0)))
               for part, (i, j) in zip(parts, offsets))


# Conv2D(algorithm="auto") per backend, from experiments/bench_conv.py (the README's speed section
# has the measurement): on CPU im2col + matmul beat XLA's convolutions. Backends not measured keep
# XLA's convolutions.
AUTO_ALGORITHM = {"cpu": "matmul"}


@base.register
@dataclasses.dataclass(frozen=True)
class Conv2D:
    """2-D convolution (correlation): ``filters`` output channels, ``kernel_size``, ``stride``,
    ``padding`` ``"valid"`` or ``"same"``. Params ``{"k": (kh, kw, C_in, C_out), "b": (C_out,)}``
    (``bias=False``: no ``b``, for a layer followed by a normalisation whose ``β`` takes its place).

    ``algorithm``: ``"matmul"`` (im2col and matrix products), ``"xla"`` (``lax`` convolutions) or
    ``"auto"`` (`AUTO_ALGORITHM` for the default backend, else ``"xla"``); see the module
    docstring. Both give the same numbers up to rounding.

    With ``algorithm="xla"`` on CPU the layer asks ``fit`` to step from Python
    (``loop_preference``): XLA runs convolutions inside a compiled loop slower than outside one
    (jax-ml/jax#12868). im2col has no convolution left, and its scanned epoch is the faster one
    (measured in the README's speed section).
    """

    filters: int
    kernel_size: int | tuple[int, int] = 3
    stride: int | tuple[int, int] = 1
    padding: str = "valid"
    algorithm: str = "auto"
    bias: bool = True

    def __post_init__(self):
        object.__setattr__(self, "kernel_size", _pair(self.kernel_size))
        object.__setattr__(self, "stride", _pair(self.stride))
        if self.padding not in ("valid", "same"):
            raise ValueError(f"Conv2D padding must be 'valid' or 'same', got {self.padding!r}")
        if self.algorithm not in ("auto", "matmul", "xla"):
            raise ValueError(f"Conv2D algorithm must be 'auto', 'matmul' or 'xla', got "
                             f"{self.algorithm!r}")
        if min(self.kernel_size) <= 0 or min(self.stride) <= 0 or self.filters <= 0:
            raise ValueError(f"{self}: filters, kernel_size and stride must be positive")

    @property
    def loop_preference(self) -> dict[str, str]:     # read by fit(loop="auto")
        return {"cpu": "python"} if self.algorithm == "xla" else {}

    @property
    def resolved_algorithm(self) -> str:
        """``"matmul"`` or ``"xla"``: what ``"auto"`` means on the default backend."""
        if self.algorithm != "auto":
            return self.algorithm
        return AUTO_ALGORITHM.get(jax.default_backend(), "xla")

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
        he = initializers.get("he")
        params = {"k": he(key, (*self.kernel_size, in_shape[2], self.filters), dtype)}
        if self.bias:
            params["b"] = he(key, (self.filters,), dtype)
        return params, out_shape

    def forward(self, params, x):
        base.check_rank(self, x, 4, "(batch, H, W, C)")
        if x.shape[3] != params["k"].shape[2]:
            raise ValueError(f"{self}: input has {x.shape[3]} channels, the kernel expects "
                             f"{params['k'].shape[2]} (input shape {x.shape})")
        pads, (Ho, Wo, _) = self._geometry(x.shape[1:])
        x = x.astype(params["k"].dtype)   # e.g. uint8 pixels or float64 data into float32 kernels
        if self.resolved_algorithm == "xla":
            y = lax.conv_general_dilated(x, params["k"], self.stride, pads, dimension_numbers=_NHWC)
            return y + params.get("b", 0), x
        xp = jnp.pad(x, ((0, 0), *pads, (0, 0)))
        patches = jnp.concatenate(window_slices(xp, self.kernel_size, self.stride, (Ho, Wo)),
                                  axis=3)                          # P: im2col, kh·kw·C_in wide
        patches = patches.reshape(-1, patches.shape[-1])
        y = patches @ params["k"].reshape(-1, self.filters)        # Y = P K
        return y.reshape(x.shape[0], Ho, Wo, self.filters) + params.get("b", 0), (x.shape, patches)

    def backward(self, params, cache, g):
        if self.resolved_algorithm == "xla":
            return self._backward_xla(params, cache, g)
        x_shape, patches = cache
        k = params["k"]
        delta = g.reshape(-1, self.filters)                 # one row per output pixel
        g_k = (patches.T @ delta).reshape(k.shape)          # ∂C/∂K = Pᵀ δ
        g_patches = delta @ k.reshape(-1, self.filters).T   # ∂C/∂P = δ Kᵀ
        (plo, phi), (qlo, qhi) = self._geometry(x_shape[1:])[0]
        H, W = x_shape[1:3]
        parts = jnp.split(g_patches.reshape(*g.shape[:3], -1), k.shape[0] * k.shape[1], axis=3)
        g_xp = unslice(parts, self.kernel_size, self.stride, (H + plo + phi, W + qlo + qhi))  # col2im
        return self._grads(params, g_k, delta.sum(axis=0)), g_xp[:, plo: plo + H, qlo: qlo + W]

    def _backward_xla(self, params, x, g):
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
        return self._grads(params, g_k, g.sum(axis=(0, 1, 2))), g_x

    @staticmethod
    def _grads(params, g_k, g_b):
        """``{"k": g_k, "b": g_b}``, without ``b`` for a layer without a bias."""
        return {"k": g_k, "b": g_b} if "b" in params else {"k": g_k}


@dataclasses.dataclass(frozen=True)
class _Pool2D:
    """``pool × pool`` windows every ``stride`` pixels (default ``stride = pool``: non-overlapping);
    ``stride < pool`` overlaps them, ``stride > pool`` skips pixels. Rows/columns that do not fill
    a window are dropped ('valid'): ``H_out = (H − pool) // stride + 1``.

    Forward and backward work on the ``pool²`` strided slices of `window_slices` (one per
    position in the window) with elementwise operations, and `unslice` puts the gradients
    back: no gather or scatter, for every pool and stride."""

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

    def _slices(self, x):
        """The ``pool²`` slices ``(m, H_out, W_out, C)``, one per position in the window."""
        base.check_rank(self, x, 4, "(batch, H, W, C)")
        if min(x.shape[1:3]) < self.pool:
            raise ValueError(f"{self}: pool {self.pool} is larger than the input {x.shape[1:3]}")
        p, s = self.pool, self._step
        return window_slices(x, (p, p), (s, s), self._out(*x.shape[1:3]))

    def _unslice(self, parts, x_shape):
        p, s = self.pool, self._step
        return unslice(parts, (p, p), (s, s), x_shape[1:3])

    def init(self, key, in_shape, dtype=jnp.float32):
        if len(in_shape) != 3 or min(in_shape[:2]) < self.pool:
            raise ValueError(f"{self}: needs images (H, W, C) at least {self.pool} wide, "
                             f"got {in_shape}")
        return {}, (*self._out(*in_shape[:2]), in_shape[2])


@base.register
@dataclasses.dataclass(frozen=True)
class MaxPool2D(_Pool2D):
    """Max over ``pool × pool`` windows every ``stride`` pixels (default: non-overlapping).

    Backward routes each window's gradient to its maximum (overlapping windows add up). Ties: the
    gradient is shared equally among the tied maxima (as ``jax.grad`` of ``max`` does), so the
    total is preserved.
    """

    def forward(self, params, x):
        y = jnp.stack(self._slices(x)).max(axis=0)
        return y, (x, y)

    def backward(self, params, cache, g):
        x, y = cache
        is_max = [(s == y).astype(g.dtype) for s in self._slices(x)]
        per_max = g / sum(is_max)                      # ties share the window's gradient
        return {}, self._unslice([m * per_max for m in is_max], x.shape)


@base.register
@dataclasses.dataclass(frozen=True)
class AvgPool2D(_Pool2D):
    """Mean over ``pool × pool`` windows every ``stride`` pixels; backward spreads ``g / pool²``
    evenly over each window."""

    def forward(self, params, x):
        return sum(self._slices(x)) / (self.pool * self.pool), x.shape

    def backward(self, params, x_shape, g):
        return {}, self._unslice([g / (self.pool * self.pool)] * self.pool ** 2, x_shape)
