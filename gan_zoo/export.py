"""SavedModel export with named serving signatures.

The export is a plain TensorFlow SavedModel: a process that has never
imported gan_zoo (or Keras) loads it with ``tf.saved_model.load`` and calls
``loaded.signatures["generate"](z=...)``. A ``gan_zoo.json`` beside it records
which model and config produced it.
"""

from __future__ import annotations

import json
import os
import shutil

import keras

METADATA = "gan_zoo.json"


def export(model, directory: str, metadata: dict) -> str:
    """Writes ``model``'s ``export_signatures()`` as a SavedModel into ``directory``.

    The new export is written beside the old one and swapped in only when
    complete, so an interrupted export never leaves a half-written directory.
    """
    directory = os.path.abspath(directory)
    staging = directory + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, fn in model.export_signatures().items():
        archive.add_endpoint(name, fn)
    archive.write_out(staging, verbose=False)
    with open(os.path.join(staging, METADATA), "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True)
    previous = directory + ".previous"
    if os.path.isdir(directory):
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(directory, previous)
    os.rename(staging, directory)
    shutil.rmtree(previous, ignore_errors=True)
    return directory
