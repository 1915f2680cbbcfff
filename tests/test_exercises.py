"""The self-graded exercises: every solution passes, typical wrong answers fail with the right hint."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import exercises
from jaxnn.exercises import solutions as S

jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("name", exercises.NAMES)
def test_every_solution_is_exact(name):
    report = exercises.check(name, S.SOLUTIONS[name], verbose=False)
    assert report.passed and {r.status for r in report.results} == {"exact"}, str(report)


def _sig(z, a, g):
    return g * a * (1 - a)


def _up(t):
    return jnp.repeat(jnp.repeat(t, 2, axis=1), 2, axis=2)


def _without_row_sum(x, Wq, Wk, Wv, g):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    c = 1 / jnp.sqrt(Wq.shape[1])
    P = jax.nn.softmax(jnp.where(jnp.tril(jnp.ones((len(x), len(x)), bool)), q @ k.T * c, -jnp.inf), -1)
    dv, dS = P.T @ g, P * (g @ v.T)                          # the slip: no − Σ_j dP ⊙ P
    dq, dk = dS @ k * c, dS.T @ q * c
    return dq @ Wq.T + dk @ Wk.T + dv @ Wv.T, x.T @ dq, x.T @ dk, x.T @ dv


def _without_mean_term(x, gamma, g):
    sigma = jnp.sqrt(x.var(-1, keepdims=True) + 1e-5)
    xhat, gh = (x - x.mean(-1, keepdims=True)) / sigma, g * gamma
    return (gh - xhat * (gh * xhat).mean(-1, keepdims=True)) / sigma       # the slip: no − mean ĝ


def _layernorm_without_eps(x, gamma, g):
    xhat = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)     # the slip: no ε
    gh = g * gamma
    dx = (gh - gh.mean(-1, keepdims=True) - xhat * (gh * xhat).mean(-1, keepdims=True)) \
        / x.std(-1, keepdims=True)
    return dx, (g * xhat).sum(0), g.sum(0)


def _hinge_rows(s, y):
    rows = jnp.arange(len(s))
    return rows, (s - s[rows, y][:, None] + 1 > 0).at[rows, y].set(False)


def _without_the_max(s, y):
    rows, (m, n) = jnp.arange(len(s)), s.shape
    every = jnp.ones_like(s).at[rows, y].set(0)               # the slip: every margin counted
    return every.at[rows, y].set(-(n - 1)) / m


WRONG = [   # (exercise, wrong backward, the result that is wrong, what the hint must say)
    ("relu", lambda z, a, g: g * (z >= 0), "dz", "z > 0, not z ≥ 0"),
    ("tanh", lambda z, a, g: g * (1 - z ** 2), "dz", "at the activation"),
    ("tanh", lambda z, a, g: g * a * (1 - a), "dz", "the sigmoid's"),
    ("hinge", lambda s, y: _hinge_rows(s, y)[1] / len(s), "ds", "its column gets"),
    ("hinge", lambda s, y: S.hinge_backward(s, y) * len(s), "ds", "missing the batch mean"),
    ("hinge", lambda s, y: _without_the_max(s, y), "ds", "max(0, ·) passes no gradient"),
    ("dropout", lambda mask, g: g * mask, "dx", "1/(1 − p)"),
    ("dropout", lambda mask, g: g / 0.7, "dx", "only where the unit was kept"),
    ("sigmoid", lambda z, a, g: g * z * (1 - z), "dz", "at the activation"),
    ("sigmoid", lambda z, a, g: -_sig(z, a, g), "dz", "sign is flipped"),
    ("quadratic", lambda a, y: a - y, "da", "missing the batch mean"),
    ("quadratic", lambda a, y: (y - a) / a.shape[0], "da", "sign is flipped"),
    ("quadratic", lambda a, y: 2 * (a - y) / a.shape[0], "da", "factor 2"),
    ("softmax_cross_entropy", lambda z, y: (z - y) / z.shape[0], "dz", "softmax(z) belongs"),
    ("softmax_cross_entropy", lambda z, y: jax.nn.softmax(z) - y, "dz", "missing the batch mean"),
    ("dense", lambda x, W, z, a, g: (g.T @ x, g.sum(0), g @ W), "dW", "σ'(z)"),
    ("dense", lambda x, W, z, a, g: S.dense_backward(x, W, None, z, g), "dW", "not z·(1 − z)"),  # σ' at z
    ("dense", lambda x, W, z, a, g: (x.T @ _sig(z, a, g), _sig(z, a, g).sum(0), _sig(z, a, g) @ W),
     "dW", "transposed"),
    ("dense", lambda x, W, z, a, g: (_sig(z, a, g).T @ x, _sig(z, a, g), _sig(z, a, g) @ W),
     "db", "sum over the batch axis"),
    ("maxpool", lambda x, y, g: _up(g) / 4, "dx", "maximum only"),
    ("maxpool", lambda x, y, g: _up(g), "dx", "maximum once"),
    ("conv", lambda x, k, g: (S.conv_backward(x, k, g)[0].transpose(0, 1, 3, 2),
                              S.conv_backward(x, k, g)[1]), "dk", "shape"),
    ("conv", lambda x, k, g: ((g.reshape(-1, 4).T @ exercises.im2col(x, 3, 3)).reshape(k.shape),
                              S.conv_backward(x, k, g)[1]), "dk", "δᵀ P reshaped"),
    ("layernorm", lambda x, gamma, g: (g * gamma / jnp.sqrt(x.var(-1, keepdims=True) + 1e-5),
                                       *S.layernorm_backward(x, gamma, g)[1:]), "dx", "μ and σ depend"),
    ("layernorm", lambda x, gamma, g: (S.layernorm_backward(x, gamma, g)[0], g.sum(0), g.sum(0)),
     "dgamma", "no typical slip"),
    ("layernorm", lambda x, gamma, g: _layernorm_without_eps(x, gamma, g), "dx", "ε is part of σ"),
    ("layernorm", lambda x, gamma, g: (_without_mean_term(x, gamma, g),
                                       *S.layernorm_backward(x, gamma, g)[1:]),
     "dx", "mean ĝ term is missing"),
    ("softmax_cross_entropy", lambda z, y: -y / jax.nn.softmax(z) / z.shape[0], "dz", "∂C/∂a = −y/(a·m)"),
    ("attention", lambda *a: _attention_without_scale_in_backward(*a), "dWq", "1/√d_h"),
    ("attention", lambda x, Wq, Wk, Wv, g: _without_row_sum(x, Wq, Wk, Wv, g), "dWq", "row-sum term"),
    ("softmax_cross_entropy", lambda z, y: (jax.nn.softmax(z, axis=0) - y) / z.shape[0], "dz",
     "not down the batch"),
    ("batchnorm", lambda x, gamma, g: _bn_slip(x, gamma, g, mean=False, var=False), "dx",
     "μ and σ² depend on x"),
    ("batchnorm", lambda x, gamma, g: _bn_slip(x, gamma, g, mean=False), "dx", "the mean's path"),
    ("batchnorm", lambda x, gamma, g: _bn_slip(x, gamma, g, var=False), "dx", "the variance's path"),
    ("batchnorm", lambda x, gamma, g: S.layernorm_backward(x, gamma, g), "dx", "is LayerNorm"),
    ("batchnorm", lambda x, gamma, g: S.batchnorm_backward(x, gamma, g, eps=0.0), "dx", "ε is part of σ"),
    ("spatial_batchnorm", lambda x, gamma, g: S.batchnorm_backward(x, gamma, g), "dx",
     "one statistic per pixel"),
    ("spatial_batchnorm", lambda x, gamma, g: S.batchnorm_backward(x, gamma, g, axes=(1, 2)), "dx",
     "InstanceNorm"),
    ("groupnorm", lambda x, gamma, g: _gn_interleaved(x, gamma, g), "dx", "c % G groups"),
    ("groupnorm", lambda x, gamma, g: S.groupnorm_backward(x, gamma, g, groups=1), "dx",
     "not over all C channels"),
    ("groupnorm", lambda x, gamma, g: S.groupnorm_backward(x, gamma, g, groups=6), "dx",
     "not one channel at a time"),
    ("rnn_step", lambda x, h, Wx, Wh, h_next, g: _rnn_step_with(x, h, Wx, Wh,
                                                                g * (1 - jnp.arctanh(h_next) ** 2)),
     "dWx", "not 1 − z²"),
    ("rnn_step", lambda x, h, Wx, Wh, h_next, g: _rnn_step_with(x, h, Wx, Wh, g), "dx", "through tanh first"),
    ("rnn", lambda x, h0, Wx, Wh, h, g: _rnn_without_carry(x, h0, Wx, Wh, h, g), "dWh", "carry dh back"),
    ("lstm_step", lambda *a: _lstm_step_dc_unscaled(*a), "dc_prev", "through the forget gate"),
    ("lstm_step", lambda *a: _lstm_step_no_tanh_path(*a), "dc_prev", "through h_next = o tanh(c_next)"),
    ("lstm", lambda *a: _lstm_without_dc_carry(*a), "dWh", "carry dc back"),
    ("embedding", lambda tokens, vocab, g: jnp.zeros((vocab, g.shape[-1]), g.dtype).at[tokens].set(g), "dE",
     "scatter-add"),
    ("temporal_affine", lambda x, W, g: (g @ W, jnp.einsum("mti,mtk->tik", g, x), g.sum((0, 1))), "dW",
     "shape (5, 7, 2)"),
    ("temporal_softmax", lambda z, y, mask: S.temporal_softmax_backward(z, y, jnp.ones_like(mask)), "dz",
     "multiply by the mask"),
    ("temporal_softmax", lambda z, y, mask: S.temporal_softmax_backward(z, y, mask) / z.shape[1], "dz",
     "not by m·T"),
    ("temporal_softmax", lambda z, y, mask: (jax.nn.softmax(z, 1) - jax.nn.one_hot(y, 7))
     * mask[..., None] / 3, "dz", "not over time"),
    ("makemore", lambda *a: _makemore_with(*a, slip="norm"), "dhprebn", "the three terms"),
    ("makemore", lambda *a: _makemore_with(*a, slip="tanh"), "dhbn", "not at its input hbn"),
    ("makemore", lambda *a: _makemore_with(*a, slip="set"), "dC", "dC.at[tokens].add"),
]


def _rnn_step_with(x, h, Wx, Wh, delta):
    return delta @ Wx, delta @ Wh, delta.T @ x, delta.T @ h, delta.sum(0)


def _rnn_without_carry(x, h0, Wx, Wh, h, g):
    """Each step's own g only: nothing carried back from step t+1."""
    h_prev = jnp.concatenate([h0[:, None], h[:, :-1]], axis=1)
    parts = [S.rnn_step_backward(x[:, t], h_prev[:, t], Wx, Wh, h[:, t], g[:, t]) for t in range(x.shape[1])]
    return (jnp.stack([p[0] for p in parts], 1), parts[0][1], *(sum(p[k] for p in parts) for k in (2, 3, 4)))


def _lstm_step_dc_unscaled(x, h, c, Wx, Wh, b, dh_next, dc_next):
    dx, dh, dc_prev, *rest = S.lstm_step_backward(x, h, c, Wx, Wh, b, dh_next, dc_next)
    f = S._lstm_gates(x, h, Wx, Wh, b)[1]
    return dx, dh, dc_prev / f, *rest                                     # the slip: dc, not dc ⊙ f


def _lstm_step_no_tanh_path(x, h, c, Wx, Wh, b, dh_next, dc_next):
    f = S._lstm_gates(x, h, Wx, Wh, b)[1]
    return None, None, dc_next * f, None, None, None                      # the slip: dc = dc_next


def _lstm_without_dc_carry(x, h0, Wx, Wh, b, g):
    """The reverse sweep with the cell's gradient dropped between steps (dc = 0 each time)."""
    T, (hs, cs) = x.shape[1], S.lstm_states(x, h0, Wx, Wh, b)
    dx, dWx, dWh, db, dh = jnp.zeros_like(x), 0, 0, 0, jnp.zeros_like(h0)
    for t in reversed(range(T)):
        dx_t, dh, _, dWx_t, dWh_t, db_t = S.lstm_step_backward(x[:, t], hs[t], cs[t], Wx, Wh, b, g[:, t] + dh,
                                                               jnp.zeros_like(h0))
        dx, dWx, dWh, db = dx.at[:, t].set(dx_t), dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dh, dWx, dWh, db


def _makemore_with(tokens, y, C, W1, gamma, beta, W2, b2, slip):
    right = S.makemore_backward(tokens, y, C, W1, gamma, beta, W2, b2)
    hprebn = C[tokens].reshape(len(tokens), -1) @ W1.T
    rstd = 1 / jnp.sqrt(hprebn.var(0) + 1e-5)
    hbn = (hprebn - hprebn.mean(0)) * rstd * gamma + beta
    wrong = {"norm": (3, right[2] * gamma * rstd), "tanh": (2, right[1] * (1 - hbn ** 2)),
             "set": (10, jnp.zeros_like(C).at[tokens].set(right[4]))}[slip]
    return tuple(wrong[1] if k == wrong[0] else None for k in range(11))


def _bn_slip(x, gamma, g, mean=True, var=True):
    """BatchNorm's dx written out with the mean's and/or the variance's term left out."""
    rstd = 1 / jnp.sqrt(x.var(0) + 1e-5)
    xhat, gh = (x - x.mean(0)) * rstd, g * gamma
    return rstd * (gh - mean * gh.mean(0) - var * xhat * (gh * xhat).mean(0)), None, None


def _gn_interleaved(x, gamma, g):
    """GroupNorm's backward with channel c put in group c % G: the channels transposed in, out."""
    order = jnp.arange(6).reshape(2, 3).T.reshape(-1)       # 0, 3, 1, 4, 2, 5: c % 3 side by side
    dx, _, _ = S.groupnorm_backward(x[..., order], gamma[order], g[..., order])
    return dx[..., jnp.argsort(order)], None, None


def _attention_without_scale_in_backward(x, Wq, Wk, Wv, g):
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    mask = jnp.tril(jnp.ones((x.shape[0], x.shape[0]), bool))
    P = jax.nn.softmax(jnp.where(mask, q @ k.T / jnp.sqrt(Wq.shape[1]), -jnp.inf), axis=-1)
    dv, dP = P.T @ g, g @ v.T
    dS = P * (dP - (dP * P).sum(-1, keepdims=True))
    dq, dk = dS @ k, dS.T @ q                               # the slip: no 1/√d_h here
    return dq @ Wq.T + dk @ Wk.T + dv @ Wv.T, x.T @ dq, x.T @ dk, x.T @ dv


@pytest.mark.parametrize(("name", "wrong", "result", "hint"), WRONG,
                         ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_typical_wrong_answers_fail_with_the_right_hint(name, wrong, result, hint):
    report = exercises.check(name, wrong, verbose=False)
    assert not report.passed
    by_name = {r.name: r for r in report.results}
    assert by_name[result].status == "wrong" and hint in by_name[result].hint, str(report)


def test_a_nan_result_is_named_as_nan():
    report = exercises.check("sigmoid", lambda z, a, g: g * a * (1 - a) / (z - z), verbose=False)
    assert not report.passed and "values are NaN or infinite" in report.results[0].hint, str(report)


def test_a_missing_output_is_not_yet_and_the_others_are_graded():
    def dW_only(x, W, z, a, g):
        dW, _, _ = S.dense_backward(x, W, z, a, g)
        return dW, None, None

    report = exercises.check("dense", dW_only, verbose=False)
    assert [(r.name, r.status) for r in report.results] == [
        ("dW", "exact"), ("db", "not yet"), ("dx", "not yet")] and not report.passed
    assert "db      not yet" in str(report)


def test_float32_grades_with_float32_tolerances_and_names_a_wrong_count(capsys):
    with jax.enable_x64(False):
        assert exercises.check("dense", S.dense_backward).passed
        no_eps = exercises.check("layernorm", _layernorm_without_eps, verbose=False)   # ε matters
        assert not no_eps.passed and "ε is part of σ" in no_eps.results[0].hint
    assert "dense: passed" in capsys.readouterr().out
    report = exercises.check("dense", lambda x, W, z, a, g: g.T @ x, verbose=False)
    assert not report.passed and "return 3 arrays (dW, db, dx), got 1" in report.results[0].hint
    with pytest.raises(ValueError, match="no exercise 'swish'; the exercises are sigmoid"):
        exercises.check("swish", S.sigmoid_backward)


@pytest.mark.parametrize("name", exercises.NAMES)
def test_every_factor_has_one_meaning(name):
    """The batch size m is never 1 or 2, so "divide by m" never reads as "off by a factor 2"; the
    other axes of the first argument differ from m, so a sum over the wrong axis is a shape error."""
    ex = exercises.EXERCISES[name]
    inputs = ex.inputs(np.random.default_rng(0), jnp.float64)
    out = ex.forward(**inputs)
    first = ex.args(inputs, out, jnp.ones_like(out))[0]
    assert first.shape[0] > 2 and first.shape[0] not in first.shape[1:2], first.shape
