"""Opening a gan_zoo export, for the tools that use nothing but the export
(gan_zoo.walk, gan_zoo.arithmetic, gan_zoo.probe), and the flag checks those tools share.

The export itself needs neither gan_zoo nor Keras; this module only adds
one-line UserErrors for the ways a user can point a tool at the wrong thing.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from gan_zoo import checkpoints
from gan_zoo.errors import UserError
from gan_zoo.export import METADATA

# Large enough to keep matrix units busy, small enough that a batch of 128 px
# RGB images through a DCGAN discriminator stays well under 1 GB.
DEFAULT_BATCH = 256


@dataclasses.dataclass(frozen=True)
class Export:
    """A loaded export: the SavedModel and its ``gan_zoo.json`` metadata."""

    directory: str
    module: object
    metadata: dict

    def data_config(self, dataset: str | None = None, data_dir: str | None = None, **fixed):
        """The RunConfig that loads the data the export was trained on, with
        ``dataset`` / ``data_dir`` replacing the export's where given and
        ``fixed`` settings on top. Settings this version no longer has are dropped."""
        from gan_zoo import config

        names = config.RunConfig.__dataclass_fields__
        settings = {k: v for k, v in self.metadata["config"].items() if k in names}
        settings.update(fixed)
        if dataset is not None:
            settings["dataset"] = dataset
        if data_dir is not None:
            settings["data_dir"] = data_dir
        run = config.RunConfig(**settings)
        run.validate()
        return run

    def signature(self, name: str, needed_for: str | None = None):
        """The serving signature ``name`` (a function of keyword tensors).

        Args:
          name: e.g. "generate", "sample", "discriminate", "features".
          needed_for: what the caller is, for the error message; names of
            signatures only some models have deserve a hint on which.

        Raises:
          UserError: the export has no such signature.
        """
        if name not in self.module.signatures:
            hint = f"; {needed_for}" if needed_for else ""
            raise UserError(
                f"{self.directory} has no {name!r} signature (it has "
                f"{', '.join(sorted(self.module.signatures))}){hint}."
            )
        return self.module.signatures[name]

    def _input_shape(self, signature: str, argument: str) -> tuple:
        spec = self.signature(signature).structured_input_signature[1][argument]
        return tuple(spec.shape.as_list())

    @property
    def decoder_signature(self) -> str:
        """The signature that maps a code z alone to images: a GAN's
        ``generate``, an autoencoder's ``decode``.

        Raises:
          UserError: there is none (a conditional model also needs a label).
        """
        for name in ("generate", "decode"):
            if name in self.module.signatures and set(
                self.module.signatures[name].structured_input_signature[1]
            ) == {"z"}:
                return name
        raise UserError(
            f"{self.directory} has no signature that turns a code z alone into "
            "images (its generator or decoder also takes a label); latent walks "
            "and arithmetic need an unconditional model."
        )

    @property
    def latent_dim(self) -> int:
        """Length of the generator's code z."""
        return int(self._input_shape(self.decoder_signature, "z")[1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the images the export generates and takes."""
        taker = "discriminate" if "discriminate" in self.module.signatures else "encode"
        return tuple(int(d) for d in self._input_shape(taker, "images")[1:])

    def sample(self, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``num`` images and their codes from the model's own prior, the same
        for the same seed (the images gan_zoo.sample shows for that seed).

        Returns:
          (images float32 [num, H, W, C] in [0, 1], z float32 [num, latent_dim]).
        """
        out = self.signature("sample")(
            num=tf.constant(num, tf.int32), seed=tf.constant(seed, tf.int64)
        )
        return out["images"].numpy(), out["z"].numpy()

    def generate(self, z, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """Decodes codes into images.

        Args:
          z: float [N, latent_dim].
          batch_size: codes per call, to bound memory for long walks.

        Returns:
          float32 [N, H, W, C] in [0, 1].
        """
        z = np.asarray(z, np.float32)
        fn = self.signature(self.decoder_signature)
        return np.concatenate(
            [
                fn(z=tf.constant(z[i : i + batch_size]))["images"].numpy()
                for i in range(0, len(z), batch_size)
            ],
            axis=0,
        )


def check_given(directory: str | None) -> None:
    """Raises UserError unless --export names a directory (--check stops here,
    without loading it)."""
    if not directory:
        raise UserError("pass --export=<workdir>/export (written by train.py).")


def load_export(directory: str | None) -> Export:
    """Loads an export written by train.py.

    Args:
      directory: the ``<workdir>/export`` directory (the value of --export).

    Returns:
      The loaded :class:`Export`.

    Raises:
      UserError: no directory given, not a SavedModel, no or unreadable
        ``gan_zoo.json`` (a SavedModel that gan_zoo did not write), or a
        SavedModel TensorFlow cannot load.
    """
    check_given(directory)
    if not os.path.isfile(os.path.join(directory, "saved_model.pb")):
        raise UserError(
            f"{directory} is not a SavedModel export (no saved_model.pb); "
            "pass the export/ directory of a train.py run."
        )
    meta_path = os.path.join(directory, METADATA)
    try:
        with open(meta_path) as f:
            metadata = json.load(f)
    except FileNotFoundError:
        raise UserError(
            f"{directory} has no {METADATA}: it is a SavedModel but not a gan_zoo "
            "export; pass the export/ directory of a train.py run."
        ) from None
    except (OSError, ValueError) as e:
        raise UserError(
            f"cannot read {meta_path} ({type(e).__name__}: {e}); re-export the run "
            "with train.py --export_only."
        ) from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("config"), dict):
        raise UserError(f"{meta_path} has no 'config' section; re-export the run.")
    # TensorFlow reads a cut-short variables file as far as it goes and then
    # raises IndexError from deep inside the restore.
    damaged = checkpoints.problem(os.path.join(directory, "variables", "variables"))
    if damaged:
        raise UserError(
            f"{directory} is a damaged export: its variables do not read back whole "
            f"({damaged}); re-export the run with train.py --export_only."
        )
    try:
        module = tf.saved_model.load(directory)
    except (OSError, ValueError, IndexError, tf.errors.OpError) as e:
        detail = " ".join(str(e).split())
        detail = detail[:200] + "..." if len(detail) > 200 else detail
        raise UserError(
            f"TensorFlow cannot load {directory}, a damaged or incomplete export "
            f"({type(e).__name__}: {detail}); re-export the run with "
            "train.py --export_only."
        ) from None
    return Export(os.path.abspath(directory), module, metadata)


def parse_indices(flag: str, text: str | None, num: int) -> list[int]:
    """Parses a comma-separated list of sample indices such as "3,17,22".

    Args:
      flag: the flag's name, for the message.
      text: the flag's value.
      num: how many samples there are; indices must be in [0, num).

    Returns:
      The indices, in the given order (repeats allowed: they weight the mean).

    Raises:
      UserError: empty, not integers, or out of range.
    """
    parts = [p.strip() for p in (text or "").split(",")]
    if not any(parts):
        raise UserError(
            f"--{flag} is empty; give comma-separated sample indices, e.g. --{flag}=3,17,22."
        )
    try:
        indices = [int(p) for p in parts]
    except ValueError:
        raise UserError(
            f"--{flag}={text!r} is not a comma-separated list of integers, e.g. --{flag}=3,17,22."
        ) from None
    bad = [i for i in indices if not 0 <= i < num]
    if bad:
        raise UserError(
            f"--{flag} has index {bad[0]} outside 0..{num - 1} (--num={num} samples, "
            "numbered row by row from 0)."
        )
    return indices
