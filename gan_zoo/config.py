"""The settings of a run, in two parts: the run's own (:class:`RunConfig`,
here: data, workdir, epochs, batch, seed, strategy, precision, logging,
evaluation) and its model's hyperparameters (a dataclass that each model
family declares beside its model, e.g. ``gan_zoo.models.gan.GANHparams``,
with the rules of its values in its ``validate``).

Every field of either is one ``train.py`` flag of the same name (train.py
defines the flags from these declarations, so help text lives there, once).
Values resolve in layers: the dataclass defaults, then the model's paper
defaults (``registry.paper_defaults``), then whatever the user gave on the
command line or in a flagfile. A setting that the chosen model does not have
is refused. The resolved :class:`Config` is written to
``<workdir>/flags.txt``; passing that file back with ``--flagfile`` rebuilds
the same Config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gan_zoo import metric_names
from gan_zoo.errors import UserError
from gan_zoo.settings import check_choice, check_non_negative, check_positive, setting


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """What a run does with a model: data, length, execution, logging, evaluation."""

    model: str = setting("gan", "Model to train; see gan_zoo.registry.MODELS.")
    dataset: str = setting(
        "digits", "Dataset; 'digits' is embedded in the package and needs no download."
    )
    data_dir: str = setting(
        "", "Directory with the dataset's files (e.g. MNIST's four IDX files), or a tfds data_dir."
    )
    workdir: str = setting(
        "",
        "Run directory for logs, samples, checkpoints and export (default runs/<model>_<dataset>).",
    )
    epochs: int = setting(20, "Passes over the training set.")
    steps_per_epoch: int = setting(
        0, "Cap on training steps per epoch for short runs; 0 means one full pass."
    )
    batch_size: int = setting(100, "Minibatch size m of each network update.")
    seed: int = setting(0, "Seed for initialisation, data order and noise.")
    strategy: str = setting(
        "default",
        "tf.distribute strategy: default (one device, or the caller's scope) | "
        "mirrored (every local GPU) | multi_worker (MultiWorkerMirroredStrategy over "
        "the machines in TF_CONFIG) | tpu (TPUStrategy, see --tpu). --batch_size is "
        "always the global batch.",
    )
    tpu: str = setting(
        "", "--strategy=tpu: the TPU's name or grpc:// address ('' = the TPU VM this runs on)."
    )
    mixed_precision: str = setting(
        "float32",
        "Compute dtype: float32 | mixed_bfloat16 | mixed_float16 (float32 weights, "
        "outputs and losses; float16 adds dynamic loss scaling to every optimizer).",
    )
    jit_compile: str = setting(
        "auto",
        "XLA-compile the training step: true | false | auto (off on a CPU, where it "
        "measured slower; on on a GPU, as Keras does, except under --strategy).",
    )
    steps_per_execution: int = setting(
        0,
        "Training steps per call into TensorFlow (callbacks act every this many steps); "
        "0 = auto: 10, or 1 under a tf.distribute strategy.",
    )
    run_eagerly: bool = setting(
        False,
        "Run the training step as plain Python, without tf.function: to step through "
        "train_step in a debugger or print its tensors. It skips tracing the step and "
        "runs every step slower: for debugging and tiny runs, not training.",
    )
    deterministic: bool = setting(
        False,
        "Make every TensorFlow op deterministic, so reruns and resumed runs are "
        "bit-identical on a GPU too (CPU runs already are); may be slower.",
    )
    paper_split: bool = setting(
        False,
        "MNIST and CIFAR-10: train on the first 50,000 training digits (40,000 CIFAR-10 "
        "images) and hold out the rest (50,000-60,000; 40,000-50,000) as validation, as "
        "the GAN paper's code did.",
    )
    image_size: int = setting(
        64,
        "Convolutional models: height and width of generated images (32, 64 or 128); "
        "image datasets are resized (short side) and center-cropped to it.",
    )
    lsun_category: str = setting("bedroom", "LSUN scene category, e.g. bedroom, church_outdoor.")
    max_examples: int = setting(0, "Use at most this many training examples (0 = all).")
    eval_every_epochs: int = setting(
        0,
        "Score --eval_samples generated images every this many epochs (0 = never); the "
        "scores join the training metrics as eval_<metric>.",
    )
    eval_metrics: str = setting("fid,coverage", "Comma-separated: parzen, fid, kid, is, coverage.")
    eval_samples: int = setting(5000, "Generated images per periodic evaluation.")
    eval_batch_stats: bool = setting(
        False,
        "Periodic evaluation of a BatchNorm generator: also score samples drawn with "
        "each batch's own statistics, as in training (eval_<metric>_batch_stats), "
        "beside the moving averages the export uses.",
    )
    keep_best: str = setting(
        "",
        "Keep the export of the epoch with the best score of this metric in "
        "<workdir>/best_export; '' = off. parzen (highest) or fid (lowest) of the "
        "periodic evaluation; error (aae_semi_supervised, vae_semi_supervised), cluster_error "
        "(aae_clustering) or neg_elbo (vae, cvae), lowest, measured every epoch on "
        "the validation split. Never the test split.",
    )
    eval_features: str = setting(
        "",
        "Feature extractor of the evaluation: mnist_classifier | inception (default: "
        "mnist_classifier for 28x28x1 data, else inception).",
    )
    inception_weights: str = setting(
        "", "Keras InceptionV3 weights file (with top), for --eval_features=inception."
    )
    log_every_steps: int = setting(100, "Write TensorBoard training scalars every this many steps.")
    num_samples: int = setting(
        100, "Images in the per-epoch sample grid (a square number looks best)."
    )
    keep_checkpoints: int = setting(3, "How many most recent checkpoints to keep.")
    checkpoint_every_steps: int = setting(
        0, "Also checkpoint every this many steps, not only at the end of every epoch (0 = not)."
    )
    export: bool = setting(
        True,
        "Write the SavedModel <workdir>/export when training ends. --noexport skips it "
        "(e.g. in a sweep compared by its logged metrics); --export_only writes it later "
        "from the newest checkpoint.",
    )
    export_onnx: bool = setting(
        False,
        "Also write <workdir>/export/onnx/<signature>.onnx for every signature ONNX can "
        'express, each checked with onnxruntime; needs pip install -e ".[onnx]".',
    )

    def validate(self) -> None:
        """Raises UserError with one actionable line for any bad value."""
        check_choice("strategy", self.strategy, ("default", "mirrored", "multi_worker", "tpu"))
        check_choice(
            "mixed_precision", self.mixed_precision, ("float32", "mixed_bfloat16", "mixed_float16")
        )
        check_choice("jit_compile", self.jit_compile, ("auto", "true", "false"))
        check_non_negative("steps_per_execution", self.steps_per_execution, " (0 = auto)")
        if self.run_eagerly and self.jit_compile == "true":
            raise UserError(
                "--run_eagerly runs the step without tf.function, which --jit_compile=true "
                "(XLA) compiles; drop one of them."
            )
        # NumPy's global seed (keras.utils.set_random_seed) takes 0 ... 2**32 - 1.
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(
                f"--seed={self.seed} is out of range; pick a seed from 0 to {MAX_SEED} (2**32 - 1)."
            )
        for name in ("epochs", "batch_size", "log_every_steps", "num_samples", "keep_checkpoints"):
            check_positive(name, getattr(self, name))
        check_non_negative("checkpoint_every_steps", self.checkpoint_every_steps, " (0 = not)")
        check_non_negative("eval_every_epochs", self.eval_every_epochs, " (0 = never)")
        check_non_negative("steps_per_epoch", self.steps_per_epoch, " (0 = full pass)")
        check_non_negative("max_examples", self.max_examples, " (0 = all)")
        if self.eval_every_epochs:
            metric_names.check_metrics(self.eval_metrics)
            check_positive("eval_samples", self.eval_samples)
        if self.export_onnx and not self.export:
            raise UserError(
                "--export_onnx converts the export that --noexport skips; drop one of them."
            )
        if self.keep_best:
            best = metric_names.BEST
            check_choice("keep_best", self.keep_best, tuple(best) + metric_names.HELD_OUT_BEST)
            if self.keep_best in best and (
                not self.eval_every_epochs
                or self.keep_best not in metric_names.check_metrics(self.eval_metrics)
            ):
                raise UserError(
                    f"--keep_best={self.keep_best} needs the periodic evaluation "
                    f"to score it: add --eval_every_epochs=1 and "
                    f"{self.keep_best} to --eval_metrics."
                )


@dataclasses.dataclass(frozen=True)
class Config:
    """A resolved experiment: the run's settings and its model's
    hyperparameters. Every setting of either reads as an attribute
    (``cfg.epochs``, ``cfg.latent_dim``); one the model does not have is an
    AttributeError that names the model."""

    run: RunConfig
    hparams: Any

    def __getattr__(self, name):
        if name.startswith("__") or name in ("run", "hparams"):
            raise AttributeError(name)
        for part in (self.run, self.hparams):
            if name in part.__dataclass_fields__:
                return getattr(part, name)
        raise AttributeError(f"{name!r} is not a setting of --model={self.run.model}")

    def settings(self) -> dict[str, Any]:
        """Every setting by name: the run's, then the model's."""
        return {**dataclasses.asdict(self.run), **dataclasses.asdict(self.hparams)}

    def replace(self, **changes) -> Config:
        """This Config with ``changes`` (settings by name) applied, unvalidated."""
        run = {k: v for k, v in changes.items() if k in RunConfig.__dataclass_fields__}
        hparams = {k: v for k, v in changes.items() if k not in run}
        return Config(
            dataclasses.replace(self.run, **run), dataclasses.replace(self.hparams, **hparams)
        )

    def to_flagfile(self) -> str:
        """The config as absl flagfile text (one --name=value per line)."""
        lines = []
        for name, value in self.settings().items():
            if isinstance(value, bool):
                lines.append(f"--{name}" if value else f"--no{name}")
            else:
                lines.append(f"--{name}={value}")
        return "\n".join(lines) + "\n"

    def validate(self) -> Config:
        """Raises UserError with one actionable line for any bad value."""
        self.run.validate()
        self.hparams.validate(self.run)
        return self


MAX_SEED = 2**32 - 1


# Settings a run may change when it resumes in the same workdir: how long it
# trains, where its data lives, and what it logs, evaluates or exports; and
# when its learning rates step down, so that a finished run can go on with
# smaller rates (a drop only acts from its epoch on).
RESUMABLE = frozenset(
    {
        "epochs",
        "lr_drop_epochs",
        "lr_drop_factor",
        "data_dir",
        "workdir",
        "log_every_steps",
        "num_samples",
        "keep_checkpoints",
        "checkpoint_every_steps",
        "deterministic",
        "strategy",
        "tpu",
        "jit_compile",
        "steps_per_execution",
        "run_eagerly",
        "eval_every_epochs",
        "eval_metrics",
        "eval_samples",
        "eval_features",
        "inception_weights",
        "eval_batch_stats",
        "keep_best",
        "export",
        "export_onnx",
    }
)


def differences(saved: Mapping[str, Any], cfg: Config) -> list[str]:
    """``--name=saved (now new)`` for each setting, other than RESUMABLE ones,
    where a workdir's saved flags differ from ``cfg``."""
    now = cfg.settings()
    return [
        f"--{name}={saved[name]} (now {value})"
        for name, value in now.items()
        if name not in RESUMABLE and name in saved and saved[name] != value
    ]
