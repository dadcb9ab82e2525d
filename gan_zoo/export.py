"""SavedModel export with named serving signatures.

The export is a plain TensorFlow SavedModel: a process that has never
imported gan_zoo (or Keras) loads it with ``tf.saved_model.load`` and calls
``loaded.signatures["generate"](z=...)``. A ``gan_zoo.json`` beside it records
which model and config produced it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil

import keras
import tensorflow as tf

from gan_zoo import signatures, storage

METADATA = "gan_zoo.json"


def checked_shapes(fn):
    """``fn`` (a tf.function with an input signature) that first checks every
    input against its spec's shape.

    A loaded signature accepts tensors of any shape with the right dtype and
    would fail deep inside the network ("Matrix size-incompatible: In[0]:
    [3,5], In[1]: [2,8]"); this makes it say which input has which shape and
    what was expected.
    """
    specs = fn.input_signature

    @functools.wraps(fn.python_function)
    def checked(*args):
        return fn(
            *[
                tf.ensure_shape(arg, spec.shape, name=f"check_{spec.name}")
                for arg, spec in zip(args, specs)
            ]
        )

    return signatures.traced(checked, *specs)


def export(model, directory: str, metadata: dict) -> str:
    """Writes ``model``'s serving signatures (gan_zoo/signatures.py) as a
    SavedModel into ``directory``.

    The new export is written beside the old one and swapped in only when
    complete, so an interrupted export never leaves a half-written directory.
    """
    directory = os.path.abspath(directory)
    storage.recover_directory(directory)
    staging = directory + storage.STAGING
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, fn in signatures.for_model(model).items():
        archive.add_endpoint(name, checked_shapes(fn))
    try:
        archive.write_out(staging, verbose=False)
        with open(os.path.join(staging, METADATA), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
    except BaseException as e:
        # Half an export would keep a full disk full, and is never read.
        shutil.rmtree(staging, ignore_errors=True)
        storage.name_the_file(e, directory)
        raise
    storage.replace_directory(staging, directory)
    return directory
