"""LSUN scenes (DCGAN's bedrooms) from the official LMDB export.

The LSUN download script (https://github.com/fyu/lsun, ``python download.py
-c bedroom``, then unzip) gives a directory ``<category>_train_lmdb/`` holding
``data.mdb`` and ``lock.mdb``: one record per image, the key a hex id, the
value the encoded image (WebP in the official export, JPEG in some
re-exports). Records stream from an LMDB cursor and are decoded in parallel,
so the 3 million bedrooms never sit in memory; records that do not decode are
skipped and counted (``source.skipped``).

Where the data is looked for: ``--data_dir`` (the directory holding
``<category>_train_lmdb``, or that directory itself); without it,
:data:`ENV_VAR` and then :data:`DEFAULT_DIR`.

Decoding WebP is what limits the stream (README, "Input pipeline"), so
:func:`prepare` (``python -m gan_zoo.prepare_lsun``) can decode the export once, at
one image size, into ``<category>_train_<size>.u8`` beside the LMDB; when
that file exists, :func:`load` streams it instead, with nothing to decode.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os

import tensorflow as tf

from gan_zoo import storage
from gan_zoo.datasets import base, images
from gan_zoo.errors import UserError

ENV_VAR = "LSUN_DIR"  # where to look when --data_dir is not given ...
DEFAULT_DIR = "~/data/lsun"  # ... and then here
# Records decoded at load time to catch an export with no usable image.
_PROBE_RECORDS = 32
_CHUNK = 256  # records per step of the LMDB reader
_OPEN: dict = {}  # real path -> the lmdb.Environment open on it

logger = logging.getLogger(__name__)


def _how_to_get(category: str) -> str:
    return (
        f"get it from https://github.com/fyu/lsun (python download.py -c {category}, then "
        f"unzip {category}_train_lmdb.zip) and pass the directory holding "
        f"{category}_train_lmdb as --data_dir"
    )


def load(config, prepared: bool = True) -> base.Source:
    """The LSUN Source for ``config.lsun_category``: train split only, unlabelled.

    Args:
      config: reads ``data_dir``, ``lsun_category``, ``image_size`` and
        ``max_examples``.
      prepared: use the export's prepared file at ``image_size`` if there is one.

    Returns:
      A Source of ``image_size`` x ``image_size`` RGB images: the prepared
      file's, or the LMDB's decoded as they stream.

    Raises:
      UserError: if the LMDB cannot be found, opened, or holds no decodable image.
    """
    try:
        import lmdb
    except ImportError:
        raise UserError(
            "LSUN is read with the lmdb package, which is not installed (pip install lmdb)."
        ) from None

    category = config.lsun_category or "bedroom"
    path = find_lmdb(config.data_dir, category)
    flat, meta = _prepared_paths(path, category, config.image_size)
    if prepared and os.path.isfile(meta):
        with open(meta) as f:
            count = json.load(f)["count"]
        shape = (config.image_size, config.image_size, 3)
        if os.path.getsize(flat) == count * config.image_size**2 * 3:
            return base.FlatFileSource(f"lsun_{category}", flat, count, shape, config.max_examples)
        logger.warning(
            "ignoring %s: its size does not match %s; run gan_zoo.prepare_lsun again", flat, meta
        )
    try:
        # readonly + lock=False: the export is never written, and its directory
        # may be read-only or shared. readahead=False, as LMDB advises for a
        # database bigger than RAM (the bedrooms are tens of GB). LMDB allows
        # one handle per file and process, so a second load shares the first's.
        key = os.path.realpath(path)
        if key not in _OPEN:
            _OPEN[key] = lmdb.open(
                path, readonly=True, lock=False, readahead=False, max_readers=1024
            )
        env = _OPEN[key]
        entries = env.stat()["entries"]
    except lmdb.Error as e:
        raise UserError(
            f"{path} is not an LMDB of LSUN's layout ({e}); {_how_to_get(category)}."
        ) from None
    if entries == 0:
        raise UserError(f"the LMDB at {path} is empty; {_how_to_get(category)}.")
    with env.begin() as txn:
        first = [
            (key.decode("ascii", "replace"), value)
            for key, value in itertools.islice(txn.cursor(), _PROBE_RECORDS)
        ]
    images.require_decodable(
        first,
        f"LSUN records in {path}",
        f"the export looks damaged: download it again from "
        f"https://github.com/fyu/lsun (python download.py -c {category})",
    )
    return images.EncodedImageSource(
        f"lsun_{category}",
        lambda: _records(env),
        entries,
        config.image_size,
        max_examples=config.max_examples,
        native=True,
    )


def _prepared_paths(lmdb_path: str, category: str, image_size: int) -> tuple[str, str]:
    """(images file, its description) of the export at ``lmdb_path`` prepared at ``image_size``."""
    stem = os.path.join(
        os.path.dirname(os.path.normpath(lmdb_path)), f"{category}_train_{image_size}"
    )
    return stem + ".u8", stem + ".json"


def prepare(config) -> str:
    """Decodes the LSUN export once at ``config.image_size`` into the flat
    file :func:`load` then streams; returns its path.

    Every record is decoded exactly as training would decode it (undecodable
    ones skipped and counted); the description is written last, so an
    interrupted run leaves nothing that :func:`load` would use.
    """
    source = load(dataclasses.replace(config, max_examples=0), prepared=False)
    category = config.lsun_category or "bedroom"
    flat, meta = _prepared_paths(find_lmdb(config.data_dir, category), category, config.image_size)
    if os.path.exists(meta):
        os.remove(meta)
    count = 0
    try:
        with open(flat, "wb") as f:
            for batch in source.dataset("train").batch(1024).prefetch(2).as_numpy_iterator():
                f.write(batch["image"].tobytes())
                count += len(batch["image"])
    except OSError as e:
        raise UserError(
            f"cannot write {flat} ({e}); the directory holding the LMDB must be writable."
        ) from None
    storage.write_text(
        meta,
        json.dumps(
            {
                "count": count,
                "image_size": config.image_size,
                "category": category,
                "skipped": source.skipped,
            }
        ),
    )
    return flat


def find_lmdb(data_dir: str, category: str) -> str:
    """The ``<category>_train_lmdb`` directory to read.

    Args:
      data_dir: ``--data_dir``: the LMDB directory or its parent; if empty,
        :data:`ENV_VAR` and then :data:`DEFAULT_DIR` are searched.
      category: the LSUN category, e.g. "bedroom".

    Returns:
      The path of a directory holding ``data.mdb``.

    Raises:
      UserError: if there is none, saying where LSUN comes from.
    """
    name = f"{category}_train_lmdb"
    if not data_dir:
        bases = [os.environ.get(ENV_VAR, ""), os.path.expanduser(DEFAULT_DIR)]
        for base in filter(None, bases):
            for path in (base, os.path.join(base, name)):
                if os.path.isfile(os.path.join(path, "data.mdb")):
                    return _checked_category(path, category)
        raise UserError(
            f"LSUN {category} not found (no --data_dir given; looked in ${ENV_VAR} "
            f"and {DEFAULT_DIR}); {_how_to_get(category)}."
        )
    if not os.path.isdir(data_dir):
        raise UserError(f"--data_dir={data_dir} is not a directory; {_how_to_get(category)}.")
    for path in (data_dir, os.path.join(data_dir, name)):
        if os.path.isfile(os.path.join(path, "data.mdb")):
            return _checked_category(path, category)
    inner = os.path.join(data_dir, name)
    if os.path.isdir(inner):
        raise UserError(
            f"{inner} is not an LMDB of LSUN's layout (it has no data.mdb); "
            f"{_how_to_get(category)}."
        )
    raise UserError(
        f"--data_dir={data_dir} is not an LMDB of LSUN's layout (no data.mdb in it, "
        f"and no {name}/ under it); {_how_to_get(category)}."
    )


def _checked_category(path: str, category: str) -> str:
    # The LMDB directory passed directly names its own category; a mismatch
    # is most likely a forgotten --lsun_category, which would mislabel the run.
    base = os.path.basename(os.path.normpath(path))
    if base.endswith("_lmdb") and not base.startswith(f"{category}_"):
        logger.warning(
            "reading %s as LSUN %r; pass --lsun_category if that is not what you meant",
            path,
            category,
        )
    return path


def _records(env) -> tf.data.Dataset:
    """Every record of the LMDB, in key order, as ``{"name", "data", "label"}``."""

    def generate():
        # One read transaction per pass: a consistent snapshot, and the
        # cursor hands out values without loading the rest of the file.
        # Chunks, because a Python generator's cost per element it yields
        # would cap the stream below what a GPU wants.
        with env.begin() as txn:
            cursor = iter(txn.cursor())
            while chunk := list(itertools.islice(cursor, _CHUNK)):
                keys, values = zip(*chunk)
                yield list(keys), list(values)

    spec = (tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string))
    ds = tf.data.Dataset.from_generator(generate, output_signature=spec).unbatch()
    return ds.map(
        lambda key, value: {"name": key, "data": value, "label": tf.constant(-1, tf.int32)}
    )
