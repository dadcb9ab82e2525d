"""Reader for LeCun's IDX format, the format of the original MNIST files."""

from __future__ import annotations

import gzip
import os

import numpy as np

from gan_zoo.errors import UserError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file, gzipped (by ``.gz`` suffix) or raw.

    Args:
      path: the file.

    Returns:
      An array with the shape and dtype the header declares.

    Raises:
      UserError: the file is not IDX or is truncated.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read IDX file {path}: {e}; re-download it.") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise UserError(f"{path} is not an IDX file (bad magic number); re-download it.")
    dtype = np.dtype(_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header < expected:
        raise UserError(
            f"{path} is truncated ({len(data) - header} of {expected} bytes); re-download it."
        )
    return np.frombuffer(data, dtype, count=int(np.prod(shape)), offset=header).reshape(shape)


def find(directory: str, stem: str) -> str | None:
    """The path of ``stem`` or ``stem.gz`` in ``directory``, or None."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None
