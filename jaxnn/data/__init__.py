"""Data: MNIST and Fashion-MNIST, toy tasks, and the one place where arrays enter training.

Images come back as ``float32`` in ``[0, 1]``, flattened to ``(n, 784)`` or kept ``(n, 28, 28, 1)``;
labels as ``int32`` ``(n,)``. `sources` picks one source for every split — IDX
files (`idx`), tensorflow-datasets (`tfds`) or the digits a
package ships (`shipped`); `arrays` checks and encodes user
arrays ([`prepare`][jaxnn.data.prepare]); `images` reads image files to classify;
`toy` has XOR, binary → decimal and friends.
"""

from jaxnn.data.arrays import DataError, chunks, one_hot, prepare, prepare_stream
from jaxnn.data.idx import load_idx, read_idx
from jaxnn.data.images import read_images
from jaxnn.data.sources import CLASSES, DATASETS, ENV_DATA_DIR, SOURCES, Dataset, load, resolve_source, subset
from jaxnn.data.toy import binary_to_decimal, spirals, two_moons, worked_example, xor

__all__ = ["CLASSES", "DATASETS", "ENV_DATA_DIR", "SOURCES", "DataError", "Dataset", "binary_to_decimal",
           "chunks", "load", "load_idx", "one_hot", "prepare", "prepare_stream", "read_idx", "read_images",
           "resolve_source", "spirals", "subset", "two_moons", "worked_example", "xor"]
