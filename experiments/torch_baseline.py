"""PyTorch baselines for the benchmarks: the same MLP (config B) and CNN trained one epoch with
Adam, data already on the device. Optional: used only when ``torch`` is importable (never a
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
    import torch

    mods = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return _epoch_runner(torch.nn.Sequential(*mods[:-1]), x, labels, batch_size)


def cnn_epoch(x_nhwc, labels, batch_size: int = 64):
    """jaxnn.layers.small_cnn((28, 28, 1)) in PyTorch: conv 32 → pool → conv 64 → pool → 128 → 10."""
    import torch

    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128),
                          nn.ReLU(), nn.Linear(128, 10))
    x_nchw = np.ascontiguousarray(np.transpose(np.asarray(x_nhwc), (0, 3, 1, 2)))
    return _epoch_runner(model, x_nchw, np.asarray(labels), batch_size)


def label() -> str:
    import torch

    return f"PyTorch {torch.__version__.split('+')[0]} {_device().type}"
