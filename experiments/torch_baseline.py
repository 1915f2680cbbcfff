"""PyTorch baselines for the benchmarks: the same MLPs, CNN, row LSTM and GPT (nanoGPT's structure),
data already on the device. Optional: used only when ``torch`` is importable (never a
dependency of jaxnn); on a CUDA machine they run on the GPU.

Each ``*_epoch(...)`` returns ``run() -> seconds`` for one epoch, compiled/warmed once.
"""

from __future__ import annotations

import time

import numpy as np


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _epoch_runner(model, x, labels, batch_size: int, lr: float = 1e-3):
    import torch

    dev = _device()
    model = model.to(dev)
    xd = torch.as_tensor(np.array(x)).to(dev)   # a writable copy
    yd = torch.as_tensor(np.array(labels)).long().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    n_batches = len(xd) // batch_size
    gen = torch.Generator(device=dev).manual_seed(0)

    def run() -> float:
        t = time.perf_counter()
        perm = torch.randperm(len(xd), device=dev, generator=gen)
        for i in range(n_batches):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xd[idx]), yd[idx])
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    run()  # warm up (cuDNN algorithm choice, allocator)
    return run


def mlp_epoch(x, labels, sizes, batch_size: int):
    """ReLU MLP ``sizes`` with a softmax/cross-entropy output (config B of bench_training)."""
    return _epoch_runner(_mlp(sizes, "relu"), x, labels, batch_size)


def _cnn():
    """jaxnn.models.small_cnn((28, 28, 1)) in PyTorch: conv 32 → pool → conv 64 → pool → 128 → 10."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128),
                         nn.ReLU(), nn.Linear(128, 10))


def _lstm():
    """LSTM(128) over the 28 rows of an image, then Dense(10): rnn_mnist.py's LSTM model."""
    from torch import nn

    class RowLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.out = nn.LSTM(28, 128, batch_first=True), nn.Linear(128, 10)

        def forward(self, x):
            return self.out(self.lstm(x)[0][:, -1])

    return RowLSTM()


def _gpt(vocab: int, context: int, dim: int, heads: int, depth: int):
    """``jaxnn.models.gpt`` in PyTorch, nanoGPT's structure: token + learned position embeddings,
    ``depth`` pre-LN blocks (causal ``scaled_dot_product_attention``, erf-GELU MLP ×4), LN, an
    untied head with bias; the same parameter count. Returns logits ``(m, T, vocab)``."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.qkv, self.proj = nn.LayerNorm(dim), nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.ln2, self.fc, self.out = nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

        def forward(self, x):
            m, T, d = x.shape
            q, k, v = (t.view(m, T, heads, d // heads).transpose(1, 2)
                       for t in self.qkv(self.ln1(x)).split(d, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(m, T, d))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, dim), nn.Parameter(0.02 * torch.randn(context, dim))
            self.blocks = nn.ModuleList(Block() for _ in range(depth))
            self.ln, self.head = nn.LayerNorm(dim), nn.Linear(dim, vocab)

        def forward(self, tokens):
            x = self.tok(tokens) + self.pos[: tokens.shape[1]]
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln(x))

    return GPT()


def _mlp(sizes, hidden: str):
    """Dense layers ``sizes`` with ``hidden`` ("relu" or "sigmoid") between them; logits out."""
    from torch import nn

    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}[hidden]
    mods = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [nn.Linear(a, b), act()]
    return nn.Sequential(*mods[:-1])


def _quadratic_sigmoid(logits, labels):
    """Nielsen's quadratic cost on a sigmoid output: ``1/(2m) Σ ||σ(z) − y||²``."""
    import torch

    y = torch.nn.functional.one_hot(labels, logits.shape[-1]).to(logits.dtype)
    return 0.5 * ((torch.sigmoid(logits) - y) ** 2).sum(-1).mean()


PEERS = {   # name: (model factory, loss (None: cross-entropy), torch.optim class, its arguments)
    "mlp-A": (lambda: _mlp([784, 30, 10], "sigmoid"), _quadratic_sigmoid, "SGD", {"lr": 3.0}),
    "mlp-B": (lambda: _mlp([784, 128, 64, 10], "relu"), None, "Adam", {"lr": 1e-3}),
    "cnn": (_cnn, None, "Adam", {"lr": 1e-3}),
    "lstm": (_lstm, None, "Adam", {"lr": 1e-3}),
    "gpt-small": (lambda: _gpt(103, 64, 64, 4, 2), None, "AdamW", {"lr": 3e-3, "weight_decay": 0.1}),
    "gpt-large": (lambda: _gpt(103, 128, 128, 4, 4), None, "AdamW", {"lr": 3e-3, "weight_decay": 0.1}),
}
"""The configurations of ``bench_peers.py`` (same layers, parameter count, optimizer)."""


def train_step(name: str, x, y, compile: bool = False):
    """``(step() -> loss, parameter count)`` for one optimiser step of ``PEERS`` ``name`` on the
    fixed batch ``x``, ``y`` (NumPy; images NHWC as jaxnn has them), eager or ``torch.compile``d."""
    import torch

    make, loss_fn, optimizer, options = PEERS[name]
    model = make().to(_device())
    x = torch.as_tensor(_nchw(x) if name == "cnn" else np.asarray(x)).to(_device())
    y = torch.as_tensor(np.asarray(y)).long().to(_device())
    opt = getattr(torch.optim, optimizer)(model.parameters(), **options)
    forward = torch.compile(model) if compile else model
    loss_fn = loss_fn or (lambda logits, labels: torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(forward(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, sum(p.numel() for p in model.parameters())


def _nchw(x_nhwc):
    return np.ascontiguousarray(np.transpose(np.asarray(x_nhwc), (0, 3, 1, 2)))


def cnn_epoch(x_nhwc, labels, batch_size: int = 64):
    """One-epoch runner of ``_cnn`` (Adam 1e-3)."""
    return _epoch_runner(_cnn(), _nchw(x_nhwc), np.asarray(labels), batch_size)


def train_to_accuracy(kind: str, train, test, *, batch_size: int, peak_lr: float, epochs: int,
                      seed: int) -> list[tuple[float, float]]:
    """Train ``kind`` (``"cnn"``: images ``(n, 28, 28, 1)``; ``"lstm"``: rows ``(n, 28, 28)``) with
    Adam and a one-cycle schedule (optax's ``cosine_onecycle_schedule``: warm-up over the first
    quarter from ``peak/25``, cosine down to ``peak/25e4``); after each epoch the test accuracy.
    Returns ``[(training seconds of the epoch, test accuracy)]`` (evaluation not timed)."""
    import torch

    torch.manual_seed(seed)
    dev = _device()
    prep = _nchw if kind == "cnn" else np.asarray
    x, xt = (torch.as_tensor(prep(a).astype(np.float32)).to(dev) for a in (train[0], test[0]))
    y, yt = (torch.as_tensor(np.asarray(a)).long().to(dev) for a in (train[1], test[1]))
    model = (_cnn if kind == "cnn" else _lstm)().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=peak_lr)
    steps = len(x) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, peak_lr, total_steps=epochs * steps,
                                                pct_start=0.25, cycle_momentum=False,
                                                div_factor=25.0, final_div_factor=1e4)
    loss_fn, out = torch.nn.CrossEntropyLoss(), []
    for _ in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(len(x), device=dev)
        for i in range(steps):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            sched.step()
        seconds = time.perf_counter() - t
        with torch.no_grad():
            acc = float(sum((model(xt[i:i + 2000]).argmax(1) == yt[i:i + 2000]).sum()
                            for i in range(0, len(xt), 2000)) / len(xt))
        out.append((seconds, acc))
    return out


def label() -> str:
    import torch

    return f"PyTorch {torch.__version__.split('+')[0]} {_device().type}"
