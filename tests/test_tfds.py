"""The tfds path for real: MNIST prepared offline as tfrecord and as array_record (tfds reads its
download cache without re-hashing, so small synthetic IDX files stand in for the real ones),
read through ``jaxnn.data.load`` and compared with the same files read as IDX."""

import json
import time

import numpy as np
import pytest
from test_data import write_idx

from jaxnn import data
from jaxnn.data import tfds as tfds_source

tfds = pytest.importorskip("tensorflow_datasets")
N_TRAIN, N_TEST = 120, 30


def _synthetic_idx(folder):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return folder


def prepare_offline(idx_folder, tfds_folder, file_format):
    """Put the IDX files where tfds's download manager looks, then prepare with no network."""
    from etils import epath
    from tensorflow_datasets.core.download import resource
    from tensorflow_datasets.image_classification import mnist

    builder = tfds.builder("mnist", data_dir=str(tfds_folder), file_format=file_format)
    downloads = tfds_folder / "downloads" / "mnist"
    downloads.mkdir(parents=True)
    for url, info in builder.url_infos.items():
        target = downloads / resource.get_dl_fname(url, info.checksum)
        target.write_bytes((idx_folder / info.filename).read_bytes())
        resource.write_info_file(url=url, path=epath.Path(target), dataset_name="mnist",
                                 original_fname=info.filename, url_info=info)
    counts = mnist._TRAIN_EXAMPLES, mnist._TEST_EXAMPLES
    mnist._TRAIN_EXAMPLES, mnist._TEST_EXAMPLES = N_TRAIN, N_TEST
    try:
        with tfds_source.quiet():
            builder.download_and_prepare(download_dir=str(tfds_folder / "downloads"))
    finally:
        mnist._TRAIN_EXAMPLES, mnist._TEST_EXAMPLES = counts
    return tfds_folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    pytest.importorskip("tensorflow")
    root = tmp_path_factory.mktemp("tfds")
    idx = _synthetic_idx(root / "idx")
    return idx, {fmt: prepare_offline(idx, root / fmt, fmt) for fmt in ("tfrecord", "array_record")}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(tfds_source.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.delenv(data.ENV_DATA_DIR, raising=False)
    return tmp_path / "cache"


def _sorted(d):
    order = np.lexsort(np.c_[d.y, d.x].T[::-1])
    return d.x[order], d.y[order]


@pytest.mark.parametrize("fmt", ["tfrecord", "array_record"])
@pytest.mark.parametrize("source", ["auto", "tfds"])
def test_every_prepared_format_reads_like_the_idx_files(prepared, fmt, source):
    idx, folders = prepared
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        got = data.load("mnist", split, source=source, data_dir=folders[fmt])
        want = data.load("mnist", split, source="idx", data_dir=idx)
        assert got.source == "tfds" and got.x.shape == (n, 784)
        for a, b in zip(_sorted(got), _sorted(want)):
            np.testing.assert_array_equal(a, b)                    # identical up to order


def test_the_second_load_comes_from_the_cache(prepared, cache_dir):
    folder = prepared[1]["tfrecord"]
    t = time.perf_counter()
    first = data.load("mnist", "train", data_dir=folder)
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    second = data.load("mnist", "train", data_dir=folder)
    t_second = time.perf_counter() - t
    assert "(decoded cache)" in second.description and "(decoded cache)" not in first.description
    np.testing.assert_array_equal(first.x, second.x)
    np.testing.assert_array_equal(first.y, second.y)
    assert t_second < t_first and len(list(cache_dir.rglob("*.npz"))) == 1
    next(cache_dir.rglob("*.npz")).write_bytes(b"damaged")        # a broken cache is rebuilt
    np.testing.assert_array_equal(data.load("mnist", "train", data_dir=folder).x, first.x)


def test_jaxnn_data_dir_with_prepared_tfds_data_is_read_from_there(prepared, monkeypatch):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(prepared[1]["array_record"]))
    monkeypatch.setenv("TFDS_DATA_DIR", str(prepared[1]["array_record"].parent / "nothing"))
    d = data.load("mnist", "test")
    assert d.source == "tfds" and d.x.shape == (N_TEST, 784)
    assert str(prepared[1]["array_record"]) in d.description


def test_tfrecord_without_tensorflow_says_how_to_fix_it(prepared, monkeypatch):
    monkeypatch.setattr(tfds_source, "has_tensorflow", lambda: False)
    with pytest.raises(data.DataError, match="prepared as tfrecord, which only TensorFlow can read"):
        data.load("mnist", "train", data_dir=prepared[1]["tfrecord"])
    assert data.load("mnist", "test", data_dir=prepared[1]["array_record"]).x.shape == (N_TEST, 784)


def test_an_idx_folder_is_used_as_it_is_without_any_download(tmp_path, monkeypatch):
    folder = _synthetic_idx(tmp_path / "idx")
    before = sorted(p.name for p in folder.iterdir())

    def no_download(*a, **k):
        raise AssertionError("tried a download")

    monkeypatch.setattr(tfds_source, "_download", no_download)
    monkeypatch.setattr(tfds_source, "can_download", no_download)
    assert data.load("mnist", "train", data_dir=folder).source == "idx"
    assert sorted(p.name for p in folder.iterdir()) == before


def test_offline_tfds_request_fails_fast_in_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    monkeypatch.setattr(tfds_source, "_host_answers", lambda host: False)
    (tmp_path / "tfds").mkdir()
    t = time.perf_counter()
    with pytest.raises(data.DataError, match="did not answer") as info:
        data.load("mnist", "train", source="tfds", data_dir=tmp_path / "tfds")
    assert time.perf_counter() - t < 30 and "\n" not in str(info.value)
    assert not list((tmp_path / "tfds").iterdir())


def test_a_download_that_breaks_midway_is_cleaned_up(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    target = tmp_path / "tfds"
    (target / "downloads").mkdir(parents=True)
    (target / "downloads" / "keep-me").write_text("someone else's")

    def broken(self, *a, **k):
        (target / "downloads" / "mnist" / "x.tmp.123").mkdir(parents=True)
        (target / "mnist").mkdir()
        raise ConnectionError("connection reset\nlong trace")

    monkeypatch.setattr(tfds_source, "_host_answers", lambda host: True)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", broken)
    with pytest.raises(data.DataError, match=r"downloading mnist .* failed \(ConnectionError: "
                                             r"connection reset\)") as info:
        data.load("mnist", "train", source="tfds", data_dir=target)
    assert "long trace" not in str(info.value)
    assert sorted(p.name for p in target.rglob("*")) == ["downloads", "keep-me"]


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_tfds_path_under_mock_data(name, tmp_path):
    """The data-source path without real files (tfds.testing.mock_data)."""
    version = tmp_path / name / "3.0.1"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text(json.dumps({"fileFormat": "array_record"}))
    with tfds.testing.mock_data(num_examples=6):
        d = data.load(name, "train", source="tfds", data_dir=tmp_path)
    assert d.source == "tfds" and d.x.shape == (6, 784) and d.x.dtype == np.float32
    assert 0.0 <= d.x.min() and d.x.max() <= 1.0
    assert d.y.dtype == np.int32 and d.y.min() >= 0 and d.y.max() <= 9
