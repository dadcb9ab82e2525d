"""Any directory of images: JPEG, PNG or WebP files, searched recursively.

Layouts:
  data_dir/*.jpg                 unlabelled (labels -1, num_classes 0)
  data_dir/<class>/**/*.jpg      one class per immediate subdirectory, numbered
                                 in sorted order of their names

Files are read and decoded as they stream (in parallel), resized to
``image_size`` x ``image_size`` like every image dataset (short side, then the
centre; see :func:`images.center_square`). A file that does not decode
(corrupt, truncated, not really an image) is skipped and counted in
``source.skipped``. Hidden files and directories (names starting with ".",
such as macOS' "._x.jpg" resource forks) are ignored.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from gan_zoo.datasets import images
from gan_zoo.errors import UserError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")  # compared lower-cased
# Files decoded at load time to catch a folder with no usable image.
_PROBE_FILES = 32


def load(config) -> images.EncodedImageSource:
    """The Source of every image under ``config.data_dir``: train split only.

    Args:
      config: reads ``data_dir``, ``image_size`` and ``max_examples``.

    Returns:
      An EncodedImageSource of ``image_size`` x ``image_size`` RGB images,
      with ``class_names`` set when the layout has class subdirectories.

    Raises:
      UserError: for a missing or empty directory, one that mixes loose images
        with class subdirectories, or one with no decodable image.
    """
    data_dir = config.data_dir
    if not data_dir:
        raise UserError(
            "this dataset reads a directory of images; pass it as --data_dir "
            "(JPEG, PNG or WebP files, optionally one subdirectory per class)."
        )
    paths, labels, class_names = list_images(data_dir)
    images.require_decodable(
        [(path, None) for path in paths[:_PROBE_FILES]],
        f"image files under {data_dir}",
        "check that they are readable, complete image files",
    )

    def records() -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices({"name": paths, "label": labels})

    return images.EncodedImageSource(
        "image_folder",
        records,
        len(paths),
        config.image_size,
        num_classes=len(class_names),
        max_examples=config.max_examples,
        read_files=True,
        class_names=class_names,
    )


def list_images(data_dir: str) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """Finds the images under ``data_dir`` and their classes.

    Args:
      data_dir: the directory to search, recursively (following symlinks).

    Returns:
      (paths sorted by their path under data_dir, int32 labels, class names):
      labels index the class names, or are all -1 when there are no classes.

    Raises:
      UserError: for a missing directory, one with no images, or one with
        images both directly in it and in subdirectories.
    """
    if not os.path.isdir(data_dir):
        raise UserError(
            f"--data_dir={data_dir} is not a directory; pass the directory that holds the images."
        )
    found, seen = [], set()
    for root, dirs, names in os.walk(data_dir, followlinks=True):
        # Following links lets class folders be symlinks; `seen` keeps a link
        # cycle from walking forever.
        seen.add(os.path.realpath(root))
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and os.path.realpath(os.path.join(root, d)) not in seen
        )
        found.extend(
            os.path.relpath(os.path.join(root, n), data_dir)
            for n in names
            if n.lower().endswith(EXTENSIONS) and not n.startswith(".")
        )
    if not found:
        raise UserError(
            f"no {'/'.join(EXTENSIONS)} files under --data_dir={data_dir}; pass the "
            f"directory that holds the images."
        )
    found.sort()
    parts = [rel.split(os.sep) for rel in found]
    class_names = tuple(sorted({p[0] for p in parts if len(p) > 1}))
    loose = [rel for rel, p in zip(found, parts) if len(p) == 1]
    if class_names and loose:
        raise UserError(
            f"--data_dir={data_dir} has images both directly in it (e.g. {loose[0]}) "
            f"and in class subdirectories ({', '.join(class_names[:3])}"
            f"{', ...' if len(class_names) > 3 else ''}); move the loose images into a "
            f"subdirectory, or point --data_dir at one level of the tree."
        )
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[p[0]] if len(p) > 1 else -1 for p in parts], np.int32)
    return [os.path.join(data_dir, rel) for rel in found], labels, class_names
