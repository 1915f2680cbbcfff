"""jaxnn train across processes (JAX's distributed runtime on localhost, CPU collectives over gloo):
two processes with two devices each end at the parameters of one process with four devices and of
one device, for the MLP and the GPT; only process 0 writes the run folder."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import jaxnn
from jaxnn.model import named_params

MLP = ["--dataset", "digits", "--layers", "16", "--epochs", "2", "--batch-size", "32"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _train(args, out, devices: int, process=None, port=None):
    """``jaxnn train ARGS --out OUT`` in a process of its own with ``devices`` CPU devices; as
    process ``process`` of 2 when given."""
    flags = f"{os.environ['JAXNN_TEST_XLA_FLAGS']} --xla_force_host_platform_device_count={devices}"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}
    cmd = [sys.executable, "-m", "jaxnn", "train", *args, "--quiet", "--no-plot", "--out", str(out)]
    if process is not None:
        cmd += ["--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(process)]
    elif devices > 1:
        cmd += ["--devices", str(devices)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _params_after(args, tmp_path, references=("1x4", "1x1")):
    """The parameters after 2 processes × 2 devices, and 1 process × 4 devices and 1 device."""
    port = _port()
    runs = {"2x2": [_train(args, tmp_path / "2x2", 2, i, port) for i in range(2)],
            **{name: [_train(args, tmp_path / name, int(name[-1]))] for name in references}}
    outs = {name: [p.communicate(timeout=300) for p in procs] for name, procs in runs.items()}
    for name, procs in runs.items():
        assert all(p.returncode == 0 for p in procs), (name, [err[-2000:] for _, err in outs[name]])
    said = outs["2x2"][1][0]                               # process 1 trains and says nothing
    assert not any(word in said for word in ("network:", "accuracy", "wrote")), said
    assert "devices=4" in outs["2x2"][0][0]
    folder = sorted(p.name for p in (tmp_path / "2x2").iterdir())
    assert folder == [".lock", "checkpoint.npz", "metrics.json", "metrics.jsonl"]   # written once
    return {name: dict(named_params(jaxnn.load(tmp_path / name).params)) for name in runs}


def _assert_same(params, tol=1e-4):
    for name in set(params) - {"2x2"}:
        for path, want in params[name].items():
            got = params["2x2"][path]
            assert np.max(np.abs(got - want)) <= tol * np.max(np.abs(want)), (name, path)


def test_two_processes_train_the_mlp_as_one_process_and_as_one_device(tmp_path):
    _assert_same(_params_after(MLP, tmp_path))


def test_two_processes_train_the_gpt_as_one_device(tmp_path):
    """Against one device (the MLP's test covers one process with four). SGD: Adam would magnify
    the rounding noise of the attention's key bias, whose gradient is exactly zero (softmax ignores
    a shift of a row's scores), into differences of its step size."""
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 30)
    _assert_same(_params_after(["--arch", "gpt", "--text", str(text), "--context", "16", "--dim", "16",
                                "--heads", "2", "--depth", "1", "--epochs", "3", "--batch-size", "8",
                                "--optimizer", "sgd", "--lr", "0.1"], tmp_path, ("1x1",)))


@pytest.mark.parametrize(("flags", "match"), [
    (["--coordinator", "localhost:1"], "needs all three"),
    (["--coordinator", "localhost:1", "--num-processes", "2", "--process-id", "0", "--devices", "2"],
     "--devices counts this machine's devices"),
])
def test_a_run_of_several_processes_that_cannot_start_says_why(tmp_path, capsys, flags, match):
    from jaxnn import cli

    assert cli.main(["train", *MLP, "--out", str(tmp_path / "r"), *flags]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and not (tmp_path / "r").exists()


def test_a_killed_process_ends_the_others_in_one_line_and_resume_ends_where_an_uninterrupted_run_does(
        tmp_path):
    """kill -9 one process mid-run: the other ends within the heartbeat with one line naming what
    happened and the last checkpoint; --resume on both ends at the parameters of a run that was
    never interrupted."""
    import signal
    import time

    args = [*MLP[:4], "--epochs", "6", "--batch-size", "4", "--optimizer", "sgd", "--lr", "0.05",
            "--heartbeat", "5"]
    port, out = _port(), tmp_path / "run"
    reference = _train(args, tmp_path / "reference", 1)              # meanwhile, uninterrupted
    procs = [_train(args, out, 2, i, port) for i in range(2)]
    deadline = time.time() + 120
    while not (out / "checkpoint.npz").exists() and time.time() < deadline:
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    killed = time.time()
    _, err = procs[0].communicate(timeout=120)
    procs[1].wait()
    assert time.time() - killed < 60 and procs[0].returncode == 2
    assert err.count("\n") == 1 and "another process of the run stopped answering" in err, err
    assert f"the last checkpoint (epoch {jaxnn.load(out).meta['epoch']})" in err and "--resume" in err
    assert jaxnn.load(out).meta["epoch"] < 6
    port = _port()
    resumed = [_train([*args, "--resume"], out, 2, i, port) for i in range(2)]
    for p in (*resumed, reference):
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    want, got = (dict(named_params(jaxnn.load(folder).params)) for folder in (tmp_path / "reference", out))
    for path in want:
        assert np.max(np.abs(got[path] - want[path])) <= 1e-4 * np.max(np.abs(want[path])), path
