"""The experiment configuration: one frozen dataclass that flags resolve into.

Every field is one ``train.py`` flag of the same name (train.py defines the
flags from these fields, so help text lives here, once). Values resolve in
layers: the dataclass defaults, then the model's paper defaults
(``registry.paper_defaults``), then whatever the user gave on the command line or
in a flagfile. The result is written to ``<workdir>/flags.txt``; passing that
file back with ``--flagfile`` rebuilds the same Config.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from gan_zoo.errors import UserError


def _field(default, help_text: str):
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class Config:
    """A resolved experiment: every knob a run depends on."""

    model: str = _field("gan", "Model to train; see gan_zoo.registry.MODELS.")
    dataset: str = _field(
        "digits", "Dataset; 'digits' is embedded in the package and needs no download."
    )
    data_dir: str = _field(
        "", "Directory with the dataset's files (e.g. MNIST's four IDX files), or a tfds data_dir."
    )
    workdir: str = _field(
        "",
        "Run directory for logs, samples, checkpoints and export (default runs/<model>_<dataset>).",
    )
    epochs: int = _field(20, "Passes over the training set.")
    steps_per_epoch: int = _field(
        0, "Cap on training steps per epoch for short runs; 0 means one full pass."
    )
    batch_size: int = _field(100, "Minibatch size m of each network update.")
    d_steps: int = _field(
        1,
        "k of Algorithm 1: discriminator updates, each on a fresh minibatch, per generator update.",
    )
    gan_update: str = _field(
        "algorithm1",
        "GANs: algorithm1 (k D steps on fresh minibatches, then one G step, as the "
        "paper writes it) | simultaneous (the authors' released code: both "
        "networks' gradients from one shared noise minibatch, applied at once, D's "
        "cost halved; needs --d_steps=1).",
    )
    adversarial_loss: str = _field(
        "non_saturating",
        "GANs: the (D loss, G loss) pair: minimax (eq. 1, G minimises log(1 - D(G(z)))) | "
        "non_saturating (eq. 1, G minimises -log D(G(z))) | wasserstein (D is a critic: "
        "it maximises E[D(x)] - E[D(G(z))], G maximises E[D(G(z))]; add --penalty=gradient).",
    )
    penalty: str = _field(
        "none",
        "GANs: a term added to D's loss: none | gradient (WGAN-GP: (||grad D||_2 - 1)^2 at "
        "random points between real and generated images, weighted by --penalty_weight).",
    )
    penalty_weight: float = _field(10.0, "GANs: weight of --penalty (WGAN-GP's lambda).")
    latent_dim: int = _field(100, "Dimension of the noise / code z.")
    noise: str = _field("uniform", "Noise prior p(z) of the generator: uniform | gaussian.")
    seed: int = _field(0, "Seed for initialisation, data order and noise.")
    strategy: str = _field(
        "default",
        "tf.distribute strategy: default (one device, or the caller's scope) | "
        "mirrored (every local GPU) | multi_worker (MultiWorkerMirroredStrategy over "
        "the machines in TF_CONFIG) | tpu (TPUStrategy, see --tpu). --batch_size is "
        "always the global batch.",
    )
    tpu: str = _field(
        "", "--strategy=tpu: the TPU's name or grpc:// address ('' = the TPU VM this runs on)."
    )
    mixed_precision: str = _field(
        "float32",
        "Compute dtype: float32 | mixed_bfloat16 | mixed_float16 (float32 weights, "
        "outputs and losses; float16 adds dynamic loss scaling to every optimizer).",
    )
    jit_compile: str = _field(
        "auto",
        "XLA-compile the training step: true | false | auto (off on a CPU, where it "
        "measured slower; on on a GPU, as Keras does, except under --strategy).",
    )
    steps_per_execution: int = _field(
        0,
        "Training steps per call into TensorFlow (callbacks act every this many steps); "
        "0 = auto: 10, or 1 under a tf.distribute strategy.",
    )
    deterministic: bool = _field(
        False,
        "Make every TensorFlow op deterministic, so reruns and resumed runs are "
        "bit-identical on a GPU too (CPU runs already are); may be slower.",
    )
    optimizer: str = _field("sgd", "Optimizer for every network: sgd | adam.")
    learning_rate: float = _field(0.1, "Initial learning rate.")
    lr_decay: float = _field(
        1.0, "Learning rate is divided by this factor after every update (1 = constant)."
    )
    min_learning_rate: float = _field(0.0, "Floor of the decayed learning rate.")
    momentum: float = _field(0.0, "SGD momentum at the start of training.")
    final_momentum: float = _field(0.0, "SGD momentum reached after --momentum_epochs epochs.")
    momentum_epochs: int = _field(0, "Epochs over which momentum rises linearly (0 = constant).")
    beta_1: float = _field(0.9, "Adam beta_1.")
    beta_2: float = _field(0.999, "Adam beta_2.")
    paper_split: bool = _field(
        False,
        "MNIST only: train on the first 50,000 training digits and hold out 50,000-60,000 "
        "as validation, as the GAN paper did.",
    )
    image_size: int = _field(
        64,
        "Convolutional models: height and width of generated images (32, 64 or 128); "
        "image datasets are resized (short side) and center-cropped to it.",
    )
    ngf: int = _field(64, "DCGAN: generator width; its last hidden layer has ngf channels.")
    ndf: int = _field(64, "DCGAN: discriminator width; its first layer has ndf channels.")
    d_norm: str = _field(
        "batch",
        "DCGAN: normalisation in the discriminator: batch (BatchNorm, the DCGAN guideline) | "
        "none (a WGAN-GP critic: its gradient penalty is per example, which batch statistics "
        "would break).",
    )
    sync_batchnorm: bool = _field(
        False,
        "DCGAN under --strategy=mirrored: BatchNorm statistics over the global batch, "
        "all-reduced across replicas, instead of each replica's share.",
    )
    lsun_category: str = _field("bedroom", "LSUN scene category, e.g. bedroom, church_outdoor.")
    max_examples: int = _field(0, "Use at most this many training examples (0 = all).")
    prior: str = _field(
        "gaussian",
        "AAE: target distribution of the code: gaussian | mixture_gaussian "
        "(10 2-D Gaussians on a circle) | swiss_roll | uniform.",
    )
    conditional_prior: bool = _field(
        False,
        "AAE: the code discriminator also sees the one-hot label, and prior samples come "
        "from the label's mixture component / swiss-roll segment (the paper's Fig. 4).",
    )
    g_steps: int = _field(1, "AAE: encoder-as-generator updates per training step.")
    pretrain_epochs: int = _field(
        0, "AAE: epochs of reconstruction-only training before the regularization phase starts."
    )
    hidden_units: int = _field(1000, "AAE: width of every hidden layer of the MLPs.")
    hidden_layers: int = _field(3, "AAE: hidden layers in encoder, decoder and discriminator.")
    d_learning_rate: float = _field(
        0.0, "Learning rate of the (code) discriminator; 0 = --learning_rate."
    )
    g_learning_rate: float = _field(
        0.0, "AAE: learning rate of the encoder's generator phase; 0 = --learning_rate."
    )
    architecture: str = _field(
        "mlp",
        "Autoencoders: mlp (--hidden_layers x --hidden_units ReLU) | conv (two stride-2 "
        "convolutions each way).",
    )
    recon_loss: str = _field(
        "bce",
        "Autoencoders: reconstruction loss, bce (binary cross-entropy; for the VAE a "
        "Bernoulli decoder) | mse (squared error; for the VAE a Gaussian decoder).",
    )
    corruption: str = _field(
        "masking",
        "dae: input corruption, gaussian (additive, std --corruption_level) | masking "
        "(a --corruption_level fraction of pixels set to 0) | salt_and_pepper (a "
        "fraction set to 0 or 1).",
    )
    corruption_level: float = _field(0.25, "dae: std of gaussian noise, or fraction of pixels.")
    input_noise: float = _field(
        0.0,
        "Autoencoders: std of Gaussian noise added to the encoder's input pixels (in "
        "[0, 1]) in every training phase, never when encoding for use; the target stays "
        "clean. The AAE paper's semi-supervised models used 0.3.",
    )
    kl_warmup_epochs: int = _field(
        0, "vae/cvae: the KL term's weight rises linearly from 0 to 1 over this many epochs."
    )
    c_learning_rate: float = _field(
        0.0, "aae_semi_supervised: learning rate of the classification phase; 0 = --learning_rate."
    )
    num_labels: int = _field(
        100, "aae_semi_supervised: labelled training examples, class-balanced (0 = all labels)."
    )
    num_clusters: int = _field(16, "aae_clustering: categories of the code y (clusters).")
    eval_every_epochs: int = _field(
        0,
        "Score --eval_samples generated images every this many epochs (0 = never); the "
        "scores join the training metrics as eval_<metric>.",
    )
    eval_metrics: str = _field("fid,coverage", "Comma-separated: parzen, fid, kid, is, coverage.")
    eval_samples: int = _field(5000, "Generated images per periodic evaluation.")
    eval_batch_stats: bool = _field(
        False,
        "Periodic evaluation of a BatchNorm generator: also score samples drawn with "
        "each batch's own statistics, as in training (eval_<metric>_batch_stats), "
        "beside the moving averages the export uses.",
    )
    keep_best: str = _field(
        "",
        "Keep the export of the epoch with the best periodic score of this metric "
        "(parzen: highest, fid: lowest) in <workdir>/best_export; '' = off. Periodic "
        "scores use validation data only, never the test split.",
    )
    eval_features: str = _field(
        "",
        "Feature extractor of the evaluation: mnist_classifier | inception (default: "
        "mnist_classifier for 28x28x1 data, else inception).",
    )
    inception_weights: str = _field(
        "", "Keras InceptionV3 weights file (with top), for --eval_features=inception."
    )
    log_every_steps: int = _field(100, "Write TensorBoard training scalars every this many steps.")
    num_samples: int = _field(
        100, "Images in the per-epoch sample grid (a square number looks best)."
    )
    keep_checkpoints: int = _field(3, "How many most recent checkpoints to keep.")
    checkpoint_every_steps: int = _field(
        0, "Also checkpoint every this many steps, not only at the end of every epoch (0 = not)."
    )
    export_onnx: bool = _field(
        False,
        "Also write <workdir>/export/onnx/<signature>.onnx for every signature ONNX can "
        'express, each checked with onnxruntime; needs pip install -e ".[onnx]".',
    )

    # --- derived helpers -------------------------------------------------
    def to_flagfile(self) -> str:
        """The config as absl flagfile text (one --name=value per line)."""
        lines = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                lines.append(f"--{f.name}" if value else f"--no{f.name}")
            else:
                lines.append(f"--{f.name}={value}")
        return "\n".join(lines) + "\n"

    def validate(self) -> Config:
        """Raises UserError with one actionable line for any bad value."""
        # These import TensorFlow; keep `import config` light.
        from gan_zoo import losses, registry
        from gan_zoo.models import dae, gan

        registry.model_class(self.model)
        registry.dataset_loader(self.dataset)
        check_choice("adversarial_loss", self.adversarial_loss, tuple(losses.ADVERSARIAL))
        check_choice("penalty", self.penalty, tuple(losses.PENALTIES))
        check_choice("d_norm", self.d_norm, ("batch", "none"))
        check_choice("noise", self.noise, ("uniform", "gaussian"))
        check_choice("gan_update", self.gan_update, gan.UPDATES)
        if self.gan_update == "simultaneous" and self.d_steps != 1:
            raise UserError(
                f"--gan_update=simultaneous takes one D step per update; "
                f"drop --d_steps={self.d_steps} or use --gan_update=algorithm1."
            )
        check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        check_choice("strategy", self.strategy, ("default", "mirrored", "multi_worker", "tpu"))
        check_choice(
            "mixed_precision", self.mixed_precision, ("float32", "mixed_bfloat16", "mixed_float16")
        )
        check_choice("jit_compile", self.jit_compile, ("auto", "true", "false"))
        check_non_negative("steps_per_execution", self.steps_per_execution, " (0 = auto)")
        check_choice("architecture", self.architecture, ("mlp", "conv"))
        check_choice("recon_loss", self.recon_loss, losses.RECONSTRUCTION_LOSSES)
        check_choice("corruption", self.corruption, dae.CORRUPTIONS)
        # NumPy's global seed (keras.utils.set_random_seed) takes 0 ... 2**32 - 1.
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(
                f"--seed={self.seed} is out of range; pick a seed from 0 to {MAX_SEED} (2**32 - 1)."
            )
        check_positive("epochs", self.epochs)
        check_positive("batch_size", self.batch_size)
        check_positive("d_steps", self.d_steps)
        check_positive("latent_dim", self.latent_dim)
        check_positive("learning_rate", self.learning_rate)
        check_positive("log_every_steps", self.log_every_steps)
        check_positive("num_samples", self.num_samples)
        check_positive("keep_checkpoints", self.keep_checkpoints)
        check_non_negative("checkpoint_every_steps", self.checkpoint_every_steps, " (0 = not)")
        check_non_negative("eval_every_epochs", self.eval_every_epochs, " (0 = never)")
        if self.eval_every_epochs:
            from gan_zoo.evaluation import protocol

            protocol.check_metrics(self.eval_metrics)
            check_positive("eval_samples", self.eval_samples)
        if self.eval_batch_stats and not registry.model_class(self.model).can(
            "preview_with_batch_stats"
        ):
            raise UserError(
                f"--eval_batch_stats needs a generator with BatchNorm (dcgan); "
                f"--model={self.model} has none."
            )
        if self.keep_best:
            from gan_zoo.evaluation import protocol

            check_choice("keep_best", self.keep_best, tuple(protocol.BEST))
            if not self.eval_every_epochs or self.keep_best not in protocol.check_metrics(
                self.eval_metrics
            ):
                raise UserError(
                    f"--keep_best={self.keep_best} needs the periodic evaluation "
                    f"to score it: add --eval_every_epochs=1 and "
                    f"{self.keep_best} to --eval_metrics."
                )
        check_non_negative("steps_per_epoch", self.steps_per_epoch, " (0 = full pass)")
        if self.lr_decay < 1.0:
            raise UserError(f"--lr_decay={self.lr_decay} must be >= 1 (the rate is divided by it).")
        for name in ("momentum", "final_momentum", "beta_1", "beta_2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise UserError(f"--{name}={value} must be in [0, 1).")
        check_non_negative("max_examples", self.max_examples, " (0 = all)")
        check_non_negative("num_labels", self.num_labels, " (0 = all labels)")
        if self.num_clusters < 2:
            raise UserError(f"--num_clusters={self.num_clusters} must be >= 2.")
        for name in ("g_steps", "hidden_units", "hidden_layers"):
            check_positive(name, getattr(self, name))
        for name in (
            "pretrain_epochs",
            "kl_warmup_epochs",
            "corruption_level",
            "input_noise",
            "d_learning_rate",
            "g_learning_rate",
            "c_learning_rate",
            "momentum_epochs",
            "penalty_weight",
        ):
            check_non_negative(name, getattr(self, name))
        check_positive("ngf", self.ngf)
        check_positive("ndf", self.ndf)
        registry.model_class(self.model).check_config(self)
        return self


MAX_SEED = 2**32 - 1


def check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise UserError(f"--{name}={value!r} is not one of: {', '.join(choices)}.")


def check_non_negative(name: str, value, meaning: str = "") -> None:
    """Raises UserError ``--name=value must be >= 0<meaning>.`` unless value >= 0."""
    if value < 0:
        raise UserError(f"--{name}={value} must be >= 0{meaning}.")


def check_positive(name: str, value) -> None:
    if not value > 0:
        raise UserError(f"--{name}={value} must be > 0.")


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


def resolve(overrides: Mapping[str, Any]) -> Config:
    """Builds the Config for a run from the flags the user actually gave.

    Args:
      overrides: flag name -> value, only for flags given on the command line
        or in a flagfile. Everything else comes from the model's paper
        defaults, then from the dataclass defaults.

    Returns:
      A validated Config with ``workdir`` filled in.
    """
    from gan_zoo import registry

    unknown = set(overrides) - set(field_names())
    if unknown:
        raise UserError(f"unknown setting(s): {', '.join(sorted(unknown))}.")
    model = overrides.get("model", Config.model)
    values = registry.paper_defaults(model)
    values.update(overrides)
    cfg = Config(**values)
    if not cfg.workdir:
        cfg = dataclasses.replace(cfg, workdir=os.path.join("runs", f"{cfg.model}_{cfg.dataset}"))
    return cfg.validate()


def parse_flagfile(text: str, source: str = "the flagfile") -> dict[str, Any]:
    """The settings of flagfile text as written by :meth:`Config.to_flagfile`
    (``--name=value``, ``--flag`` / ``--noflag`` for booleans; lines that do
    not start with ``--``, such as comments, are ignored).

    Raises:
      UserError: naming ``source``, for lines that are no Config setting or
        whose value does not fit the setting's type.
    """
    types = {f.name: f.type for f in dataclasses.fields(Config)}
    settings: dict[str, Any] = {}
    unknown, bad = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("--"):
            continue
        name, has_value, value = line[2:].partition("=")
        if not has_value and name.startswith("no") and types.get(name[2:]) == "bool":
            settings[name[2:]] = False
        elif name not in types:
            unknown.append(line)
        elif types[name] == "bool":
            if not has_value or value.lower() in ("true", "t", "1"):
                settings[name] = True
            elif value.lower() in ("false", "f", "0"):
                settings[name] = False
            else:
                bad.append(line)
        elif not has_value:
            bad.append(line)
        else:
            try:
                settings[name] = {"int": int, "float": float, "str": str}[types[name]](value)
            except ValueError:
                bad.append(line)
    if unknown:
        raise UserError(
            f"{source} has unknown setting(s) {', '.join(unknown)}; fix their names "
            "or delete those lines (python train.py --helpfull lists the settings)."
        )
    if bad:
        raise UserError(
            f"{source} has setting(s) without a valid value: {', '.join(bad)}; "
            "write them as --name=value of the setting's type."
        )
    return settings


# Settings a run may change when it resumes in the same workdir: how long it
# trains, where its data lives, and what it logs, evaluates or exports.
RESUMABLE = frozenset(
    {
        "epochs",
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
        "eval_every_epochs",
        "eval_metrics",
        "eval_samples",
        "eval_features",
        "inception_weights",
        "eval_batch_stats",
        "keep_best",
        "export_onnx",
    }
)


def differences(saved: Mapping[str, Any], cfg: Config) -> list[str]:
    """``--name=saved (now new)`` for each setting, other than RESUMABLE ones,
    where a workdir's saved flags differ from ``cfg``."""
    return [
        f"--{name}={saved[name]} (now {getattr(cfg, name)})"
        for name in field_names()
        if name not in RESUMABLE and name in saved and saved[name] != getattr(cfg, name)
    ]
