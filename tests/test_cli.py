"""The jaxnn command end to end, on the shipped 8x8 digits and on IDX files written here."""

import json
import subprocess
import sys

import numpy as np
import pytest
from test_data import write_idx

import jaxnn
from jaxnn import cli


def test_train_eval_predict_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", "--dataset", "digits", "--epochs", "3", "--layers", "32",
                   "--out", str(out), "--lr", "0.01"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "data: shipped: scikit-learn's 8x8 digits" in text
    assert "epoch  train loss" in text and "test accuracy:" in text
    assert "full MNIST" not in text              # the 8x8 set is not an MNIST subset
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.85 and metrics["source"] == "shipped"
    assert len(metrics["history"]["epoch"]) == 3
    assert (out / "curves.png").stat().st_size > 1000 and (out / "checkpoint.npz").exists()

    assert cli.main(["eval", str(out / "checkpoint.npz"), "--dataset", "digits"]) == 0
    assert "accuracy" in capsys.readouterr().out

    from jaxnn import data
    test = data.load("digits", "test")
    np.save(tmp_path / "some.npy", test.x[:3].reshape(3, 8, 8))
    assert cli.main(["predict", str(out / "checkpoint.npz"), str(tmp_path / "some.npy")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith(str(tmp_path / "some.npy") + "[0]: ")
    assert cli.main(["predict", str(out), str(tmp_path / "some.npy")]) == 0    # the run folder
    assert capsys.readouterr().out.strip().splitlines() == lines


def test_resume_continues_a_run(tmp_path, capsys):
    args = ["train", "--dataset", "digits", "--layers", "16", "--out", str(tmp_path), "--quiet",
            "--no-plot"]
    assert cli.main([*args, "--epochs", "2"]) == 0
    assert cli.main([*args, "--epochs", "3", "--resume"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["history"]["epoch"] == [1, 2, 3]


def test_train_on_idx_files_and_predict_an_image(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 10
    images = np.zeros((60, 28, 28))
    for i, c in enumerate(labels):               # a learnable toy: class c lights row block c
        images[i, 2 * c: 2 * c + 3, 4:24] = 200 + rng.integers(0, 55)
    for stem in ("train", "t10k"):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", labels)
    out = tmp_path / "run"
    rc = cli.main(["train", "--data-dir", str(tmp_path), "--source", "idx", "--epochs", "30",
                   "--batch-size", "10", "--lr", "0.01", "--out", str(out), "--no-plot"])
    text = capsys.readouterr().out
    assert rc == 0 and "[idx]" in text and "IDX files" in text
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] == 1.0

    from PIL import Image
    img = np.full((56, 56), 255, np.uint8)        # black on white, twice the size: inverted, resized
    img[2 * 7 * 2: 2 * (7 * 2 + 3), 8:48] = 0
    Image.fromarray(img).save(tmp_path / "seven.png")
    assert cli.main(["predict", str(out / "checkpoint.npz"), str(tmp_path / "seven.png")]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'seven.png'}: 7")


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["train", "--lr", "nan"], "argument --lr: expected a positive finite number"),
    (["train", "--lr", "inf"], "argument --lr: expected a positive finite number"),
    (["train", "--layers", "12,x"], "comma-separated ints"),
    (["train", "--hidden", "sigmoidd"], "unknown activation 'sigmoidd'"),
    (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["train", "--dataset", "cifar10"], "invalid choice: 'cifar10'"),
    (["train", "--epoch", "3"], "unrecognized arguments: --epoch 3"),     # no abbreviations
    (["evaluate", "run/checkpoint.npz"], "unknown command 'evaluate' (did you mean 'eval'?)"),
    (["mnist"], "unknown command 'mnist'; the commands are train, eval, predict, generate"),
])
def test_wrong_flags_get_argparse_messages(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_errors_are_one_line_not_tracebacks(tmp_path, capsys):
    assert cli.main(["eval", str(tmp_path / "missing.npz")]) == 2
    assert capsys.readouterr().err.strip() == f"jaxnn eval: error: no checkpoint at {tmp_path}/missing.npz"
    assert cli.main(["eval", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"jaxnn eval: error: no checkpoint at {tmp_path}: the "
                                               "folder holds no checkpoint.npz")
    assert cli.main(["train", "--dataset", "digits", "--output", "sigmoid", "--quiet",
                     "--out", str(tmp_path)]) == 2
    assert "needs output='softmax'" in capsys.readouterr().err
    assert cli.main(["train", "--recipe", "fast", "--out", str(tmp_path / "mlp")]) == 2
    assert "--recipe fast is measured for --arch cnn and lstm, not for --arch mlp" in capsys.readouterr().err
    assert not (tmp_path / "mlp").exists()                    # refused before a run folder is made


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "jaxnn", "--help"], capture_output=True,
                            text=True, check=True)
    assert "train" in result.stdout and "predict" in result.stdout


def test_cnn_arch_trains_evaluates_and_predicts(tmp_path, capsys):
    out = tmp_path / "cnn"
    assert cli.main(["train", "--arch", "cnn", "--dataset", "digits", "--recipe", "fast",
                     "--out", str(out), "--no-plot"]) == 0
    text = capsys.readouterr().out
    assert "small CNN on 8x8x1" in text and "adam one-cycle peak 0.003, batch 32, 2 epochs" in text
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] > 0.85
    assert cli.main(["eval", str(out / "checkpoint.npz"), "--dataset", "digits"]) == 0
    assert "accuracy" in capsys.readouterr().out
    from jaxnn import data
    np.save(tmp_path / "two.npy", data.load("digits", "test").x[:2])
    assert cli.main(["predict", str(out / "checkpoint.npz"), str(tmp_path / "two.npy")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_a_batchnorm_cnn_trains_and_its_checkpoint_evaluates_with_the_running_statistics(tmp_path, capsys):
    out = tmp_path / "bn"
    assert cli.main(["train", "--arch", "cnn", "--norm", "batch", "--dataset", "digits", "--epochs", "1",
                     "--out", str(out), "--no-plot", "--quiet"]) == 0
    assert "small CNN on 8x8x1 with BatchNorm" in capsys.readouterr().out
    saved = jaxnn.load(out / "checkpoint.npz")
    assert float(np.abs(saved.params[1]["state"]["mean"]).max()) > 0       # training moved them
    assert cli.main(["eval", str(out / "checkpoint.npz"), "--dataset", "digits"]) == 0
    assert float(capsys.readouterr().out.split("accuracy ")[1].split("%")[0]) > 50
    assert cli.main(["train", "--norm", "batch", "--out", str(tmp_path / "mlp")]) == 2
    assert "--norm is for --arch cnn, not --arch mlp" in capsys.readouterr().err


def test_gpt_trains_on_a_text_file_and_generates(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    out = tmp_path / "gpt"
    assert cli.main(["train", "--arch", "gpt", "--text", str(text), "--context", "16",
                     "--epochs", "2", "--lr", "3e-3", "--quiet", "--no-plot", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "validation loss:" in printed and "nats/char" in printed
    assert cli.main(["generate", str(out / "checkpoint.npz"), "--prompt", "the ", "--steps", "30"]) == 0
    written = capsys.readouterr().out.strip()
    assert written.startswith("the ") and len(written) == 34
    assert cli.main(["generate", str(out), "--prompt", "the ", "--steps", "30"]) == 0   # the run folder
    assert capsys.readouterr().out.strip() == written
    assert cli.main(["generate", str(out / "checkpoint.npz"), "--prompt", "THE"]) == 2
    assert "not in the vocabulary" in capsys.readouterr().err
    assert cli.main(["eval", str(out)]) == 0                     # the validation part of its text
    evaluated = capsys.readouterr().out
    loss = json.loads((out / "metrics.json").read_text())["test_loss"]
    assert f"validation loss {loss:.4f} nats/char" in evaluated and "bits per character" in evaluated
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 4)))
    assert cli.main(["predict", str(out / "checkpoint.npz"), str(tmp_path / "x.npy")]) == 2
    assert "is a language model" in capsys.readouterr().err
    # the vocabulary and a prompt from the text live in the checkpoint: a copied file generates
    (tmp_path / "elsewhere").mkdir()
    copied = tmp_path / "elsewhere" / "model.npz"
    copied.write_bytes((out / "checkpoint.npz").read_bytes())
    assert cli.main(["generate", str(copied), "--steps", "30"]) == 0
    assert capsys.readouterr().out.strip() == written                  # default prompt: "the "
    # a run folder from before (vocab.json beside a checkpoint without it) still generates
    c = jaxnn.load(out)
    old = tmp_path / "old"
    old.mkdir()
    jaxnn.save(old / "checkpoint.npz", c.model, c.params,
               meta={k: v for k, v in c.meta.items() if k not in ("vocab", "prompt", "text")})
    jaxnn.data.text.Vocab(c.meta["vocab"]).save(old / "vocab.json")
    assert cli.main(["generate", str(old), "--prompt", "the ", "--steps", "30"]) == 0
    assert capsys.readouterr().out.strip() == written
    (old / "vocab.json").write_text("[1, 2]")
    assert cli.main(["generate", str(old)]) == 2
    err = capsys.readouterr().err
    assert "not the vocabulary jaxnn train wrote" in err and "Traceback" not in err


@pytest.mark.parametrize(("content", "flags", "match"), [
    (b"", [], "is empty"), (b"\xff\xfe\x00", [], "not UTF-8"),
    (b"short text", ["--context", "64"], "too short for context 64"),
    (b"some text", ["--limit", "10"], "--limit apply to the digit datasets"),
])
def test_gpt_bad_text_gets_one_line(tmp_path, capsys, content, flags, match):
    (tmp_path / "t.txt").write_bytes(content)
    assert cli.main(["train", "--arch", "gpt", "--text", str(tmp_path / "t.txt"), "--out",
                     str(tmp_path / "new" / "run"), *flags]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "new").exists()               # a failed run leaves no folder behind
    (tmp_path / "mine").mkdir()                          # and a folder the user made stays as it was
    assert cli.main(["train", "--arch", "gpt", "--text", str(tmp_path / "t.txt"), "--out",
                     str(tmp_path / "mine"), *flags]) == 2
    assert list((tmp_path / "mine").iterdir()) == []


def test_text_flags_without_gpt_are_refused(tmp_path, capsys):
    assert cli.main(["train", "--text", "x.txt", "--out", str(tmp_path / "run")]) == 2
    assert "--text is for --arch gpt" in capsys.readouterr().err
    assert cli.main(["train", "--dim", "32", "--depth", "1", "--out", str(tmp_path / "run")]) == 2
    assert "--dim and --depth are for --arch gpt" in capsys.readouterr().err


def test_the_gpts_size_flags_build_it_and_a_small_text_trains_with_the_default_batch(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("a tiny text. " * 12)                  # 156 characters: fewer than 64 windows
    out = tmp_path / "g"
    assert cli.main(["train", "--arch", "gpt", "--text", str(text), "--context", "8", "--dim", "16",
                     "--depth", "1", "--heads", "2", "--dropout", "0.1", "--epochs", "1", "--quiet",
                     "--no-plot", "--out", str(out)]) == 0
    assert "GPT (depth 1, dim 16, 2 heads, context 8, dropout 0.1)" in capsys.readouterr().out
    model = jaxnn.load(out).model
    assert model == jaxnn.models.gpt(len(set(text.read_text())), 8, dim=16, heads=2, depth=1, dropout=0.1)
    assert cli.main(["train", "--arch", "gpt", "--text", str(text), "--heads", "3",
                     "--out", str(tmp_path / "h")]) == 2
    assert "--heads 3 does not divide --dim 64" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--arch", "gpt", "--text", str(text), "--dropout", "1.5"])
    assert "argument --dropout: expected a number in [0, 1), got 1.5" in capsys.readouterr().err


def test_sampling_windows_is_the_gpts_and_only_its(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("abc " * 100)
    assert cli.main(["train", "--arch", "gpt", "--text", str(text), "--sampling", "shuffle",
                     "--out", str(tmp_path / "a")]) == 2
    assert "--sampling windows is how --arch gpt trains" in capsys.readouterr().err
    assert cli.main(["train", "--sampling", "windows", "--dataset", "digits",
                     "--out", str(tmp_path / "b")]) == 2
    assert "the digit models take shuffle or random" in capsys.readouterr().err
