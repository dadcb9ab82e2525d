"""What the image datasets share: decode, square-crop, skip-and-count.

LSUN, image folders and the tfds image sets all give the pipeline
``image_size`` x ``image_size`` uint8 RGB images made the way DCGAN made its
LSUN images: scale so the short side is ``image_size``, keep the centre.

Image files are decoded with Pillow inside the tf.data graph
(``tf.numpy_function`` in a parallel ``map``), which can decode a large JPEG
at 1/2, 1/4 or 1/8 scale. A record that does not decode is dropped, counted
and logged instead of ending a run hours in.

Records held in memory (LSUN's LMDB) are decoded by TensorFlow's own
decoders instead (``native=True``): Pillow behind ``tf.numpy_function``
delivered one core's worth of LSUN WebP images on two cores
(benchmarks/input_pipeline.py), while the native ops scale with the cores.
Those decoders can only fail the whole pipeline or be silenced by
``ignore_errors``, which cannot say which records it dropped; so every record
first passes a check of its container (a JPEG ends with EOI, a PNG with IEND,
a WebP's RIFF size is its length), which catches the usual damage, a
truncated record, and counts and names it; ``ignore_errors`` then drops
(and TensorFlow logs) whatever else fails to decode.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Iterable

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from gan_zoo.datasets.base import Source
from gan_zoo.errors import UserError

# Pillow identifies a record by its magic bytes (RIFF....WEBP, \xff\xd8, \x89PNG),
# not by a file name; naming the formats stops it from reading random bytes
# as one of the formats that have no magic (TGA, for one).
FORMATS = ("JPEG", "PNG", "WEBP")
_WHITE = (255, 255, 255, 255)
_NOTHING = np.zeros((0, 0, 3), np.uint8)  # what a skipped record decodes to
# Individual warnings for the first few bad records, then one per this many.
_LOG_FIRST, _LOG_EVERY = 10, 1000

logger = logging.getLogger(__name__)


def decode(data: bytes, min_side: int = 0) -> np.ndarray:
    """Decodes one JPEG, PNG or WebP image to RGB.

    Args:
      data: the encoded bytes.
      min_side: if > 0, a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as
        long as both sides stay >= ``min_side`` (libjpeg's DCT scaling: a
        good downsample that makes large photos several times cheaper).

    Returns:
      uint8 [H, W, 3]. Grey becomes RGB; transparent pixels are laid on white,
      since the colour stored under alpha 0 is arbitrary.

    Raises:
      Exception: whatever Pillow raises for bytes it cannot decode.
    """
    with Image.open(io.BytesIO(data), formats=FORMATS) as image:
        if min_side:
            image.draft("RGB", (min_side, min_side))  # a no-op for PNG and WebP
        if image.mode.startswith("I"):  # 16-bit grey: convert("RGB") would clip at 255
            grey = np.clip(np.asarray(image, np.int64) >> 8, 0, 255).astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=-1)
        if image.has_transparency_data:
            image = Image.alpha_composite(
                Image.new("RGBA", image.size, _WHITE), image.convert("RGBA")
            )
        return np.asarray(image.convert("RGB"))


def center_square(image: tf.Tensor, size: int) -> tf.Tensor:
    """The centre square of an image, resampled to ``size`` x ``size``.

    The same region at the same scale as resizing the short side to ``size``
    and then centre-cropping (DCGAN's LSUN recipe), but only the kept square
    is resampled, and the scale is the same along both axes.

    Args:
      image: [H, W, C], uint8 or float with values on the 0..255 scale.
      size: side of the result.

    Returns:
      uint8 [size, size, C] (bilinear, antialiased when shrinking).
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width)
    square = image[
        (height - side) // 2 : (height - side) // 2 + side,
        (width - side) // 2 : (width - side) // 2 + side,
    ]
    resized = tf.image.resize(square, (size, size), method="bilinear", antialias=True)
    resized = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    return tf.ensure_shape(resized, (size, size, image.shape[-1]))


class SkipCounter:
    """The records of one source that did not decode, each counted and logged once.

    Counting distinct names means a bad record is not counted (or logged)
    again on every pass. A lock, because tf.data decodes on many threads.
    """

    def __init__(self, what: str):
        self.what = what
        self._names: set[str] = set()
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return len(self._names)

    def skip(self, name: str, reason: str) -> None:
        """Records that ``name`` could not be decoded, for ``reason``."""
        with self._lock:
            if name in self._names:
                return
            self._names.add(name)
            n = len(self._names)
        if n <= _LOG_FIRST or n % _LOG_EVERY == 0:
            more = f"; from now on only every {_LOG_EVERY}th is logged" if n == _LOG_FIRST else ""
            logger.warning(
                "skipped undecodable %s %s (%s); %d skipped so far%s",
                self.what,
                name,
                reason,
                n,
                more,
            )


def _read_and_decode(name: str, data: bytes | None, min_side: int) -> np.ndarray:
    if data is None:
        with open(name, "rb") as f:
            data = f.read()
    return decode(data, min_side)


def _reason(error: Exception) -> str:
    if isinstance(error, UnidentifiedImageError):  # its message names a BytesIO object
        return "not JPEG, PNG or WebP data"
    return f"{type(error).__name__}: {error}"


def require_decodable(samples: Iterable[tuple[str, bytes | None]], what: str, hint: str) -> None:
    """Fails at load time on data with no decodable image among its first records.

    A stream in which every record is skipped would otherwise spin forever
    in the pipeline's ``repeat()``.

    Args:
      samples: the first few (name, encoded bytes) pairs; bytes None means
        read the file at path ``name``.
      what: e.g. "LSUN bedroom records in /data/bedroom_train_lmdb".
      hint: what the user should do, appended to the error.

    Raises:
      UserError: if none of them decodes.
    """
    count, error = 0, None
    for name, data in samples:
        count += 1
        try:
            _read_and_decode(name, data, 0)
            return
        except Exception as e:  # noqa: BLE001 - whatever fails, the record is unusable
            error = _reason(e)
    raise UserError(
        f"none of the first {count} {what} could be decoded (last error: {error}); {hint}."
    )


def decode_records(
    records: tf.data.Dataset, image_size: int, skips: SkipCounter, read_files: bool = False
) -> tf.data.Dataset:
    """Decodes and square-crops a stream of encoded images, dropping undecodable ones.

    Args:
      records: elements ``{"name": string, "data": string, "label": int32}``;
        with ``read_files``, ``{"name": path, "label": int32}``.
      image_size: side of the output images.
      skips: counts what is dropped.
      read_files: read each image from the file ``name``. Reading here rather
        than with ``tf.io.read_file`` makes an unreadable file a skip, not a crash.

    Returns:
      Unbatched ``{"image": uint8[image_size, image_size, 3], "label": int32}``.
    """

    def decode_py(name: bytes, data: bytes | None = None) -> np.ndarray:
        name = name.decode("utf-8", "replace")
        try:
            return _read_and_decode(name, data, image_size)
        except Exception as e:  # noqa: BLE001 - whatever fails, the record is unusable
            skips.skip(name, _reason(e))
            return _NOTHING

    def decode_tf(record):
        inputs = [record["name"]] if read_files else [record["name"], record["data"]]
        image = tf.numpy_function(decode_py, inputs, tf.uint8)
        image.set_shape([None, None, 3])
        return {"image": image, "label": record["label"]}

    decoded = records.map(decode_tf, num_parallel_calls=tf.data.AUTOTUNE)
    decoded = decoded.filter(lambda e: tf.size(e["image"]) > 0)
    return decoded.map(
        lambda e: {"image": center_square(e["image"], image_size), "label": e["label"]},
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _complete(data: tf.Tensor) -> tf.Tensor:
    """Whether encoded bytes are a whole JPEG, PNG or WebP container (in-graph)."""
    n = tf.strings.length(data)
    big_enough = n >= 16

    def check():
        tail = lambda k: tf.strings.substr(data, n - k, k)  # noqa: E731
        riff = tf.io.decode_raw(tf.strings.substr(data, 4, 4), tf.int32, little_endian=True)[0]
        webp = tf.logical_and(tf.strings.substr(data, 0, 4) == b"RIFF", riff + 8 == n)
        jpeg = tf.logical_and(tf.strings.substr(data, 0, 2) == b"\xff\xd8", tail(2) == b"\xff\xd9")
        png = tf.logical_and(
            tf.strings.substr(data, 0, 4) == b"\x89PNG", tail(8) == b"IEND\xaeB`\x82"
        )
        return tf.reduce_any([webp, jpeg, png])

    return tf.cond(big_enough, check, lambda: tf.constant(False))


def decode_natively(
    records: tf.data.Dataset, image_size: int, skips: SkipCounter
) -> tf.data.Dataset:
    """:func:`decode_records` for records with their bytes, by TensorFlow's
    decoders (see the module docstring)."""

    def whole(record):
        def report():
            return tf.numpy_function(
                lambda name: (
                    skips.skip(
                        name.decode("utf-8", "replace"), "incomplete, or not JPEG, PNG or WebP data"
                    )
                    or False
                ),
                [record["name"]],
                tf.bool,
                stateful=True,
            )

        return tf.cond(_complete(record["data"]), lambda: tf.constant(True), report)

    def decode(record):
        image = tf.io.decode_image(record["data"], channels=3, expand_animations=False)
        return {"image": center_square(image, image_size), "label": record["label"]}

    decoded = records.filter(whole).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    return decoded.ignore_errors(log_warning=True)


class EncodedImageSource(Source):
    """A "train"-only Source of encoded images, decoded and cropped as they stream.

    ``skipped`` is how many records have failed to decode so far (it grows
    as the data is read; the log names each of the first few).
    """

    def __init__(
        self,
        name: str,
        records: Callable[[], tf.data.Dataset],
        num_records: int,
        image_size: int,
        num_classes: int = 0,
        max_examples: int = 0,
        read_files: bool = False,
        class_names: tuple[str, ...] = (),
        native: bool = False,
    ):
        """
        Args:
          name: the dataset's name, for messages.
          records: makes the stream of records (see :func:`decode_records`).
          num_records: records in the stream, undecodable ones included.
          image_size: side of the output images.
          num_classes: 0 for unlabelled data (labels -1).
          max_examples: if > 0, stop after this many decoded images.
          read_files: records name files to read (see :func:`decode_records`).
          class_names: what each label means, if the data is labelled.
          native: decode with TensorFlow's decoders (:func:`decode_natively`;
            records with their bytes only).
        """
        self.name = name
        self.image_shape = (image_size, image_size, 3)
        self.num_classes = num_classes
        self.class_names = tuple(class_names)
        self._records = records
        self._num_records = num_records
        self._max_examples = max_examples
        self._read_files = read_files
        self._native = native
        self._skips = SkipCounter(f"{name} {'file' if read_files else 'record'}")

    @property
    def skipped(self) -> int:
        return self._skips.count

    def split_names(self) -> list[str]:
        return ["train"]

    def num_examples(self, split: str) -> int:
        # Counts the records that will be skipped too: they are few, and
        # finding them would mean decoding everything up front.
        self._check_split(split)
        n = self._num_records
        return min(n, self._max_examples) if self._max_examples else n

    def dataset(self, split: str) -> tf.data.Dataset:
        self._check_split(split)
        if self._native:
            ds = decode_natively(self._records(), self.image_shape[0], self._skips)
        else:
            ds = decode_records(self._records(), self.image_shape[0], self._skips, self._read_files)
        return ds.take(self._max_examples) if self._max_examples else ds
