"""Goodfellow et al. 2014, Figure 1, on a 1-D toy: p_data, p_g, D and x = G(z).

    python -m gan_zoo.toy1d --out=docs/images/gan_figure1.png --gif=docs/images/gan_figure1.gif

The data are N(1, 0.5^2); z is 1-D N(0, 1) noise; G and D are small tanh
MLPs, trained by the project's Algorithm 1 (:class:`gan_zoo.models.gan.GAN`,
unchanged) on minibatches of k*m numbers. The four panels follow the paper's:
(a) the start, (b) D trained alone to its optimum against the starting G,
(c) after some Algorithm 1 steps, (d) at the end of training.

Gaussian rather than uniform z, because Proposition 1 is checked against p_g
(tests/test_toy1d.py): G at initialisation is nearly linear, so uniform z
would give a p_g with steep edges where D* jumps, which neither a smooth D
nor a density estimate follows. The z line is drawn in units of its CDF,
so equally spaced marks carry equal probability, as the paper's uniform z does.

The generator loss is the paper's minimax log(1 - D(G(z))). With the
non-saturating one (--adversarial_loss=non_saturating) this G first shrinks to
nearly a point and turns over before it spreads out again: -log D(G(z))
pushes hardest the samples D rejects most, the ones furthest from the data.
"""

from __future__ import annotations

if __name__ == "__main__":
    # As a command, mute TensorFlow's C++ start-up notes before the imports
    # below load it, as gan_zoo.cli does for every entry point.
    from gan_zoo import cli

    cli.import_tensorflow_quietly()

import dataclasses  # noqa: E402
import math  # noqa: E402
from statistics import NormalDist  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gan_zoo.models.gan import GAN  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Gaussian1D:
    """p_data: a 1-D Gaussian N(mean, std^2)."""

    mean: float = 1.0
    std: float = 0.5

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """float32 [n, 1], the shape GAN.train_step reads from batch["image"]."""
        return rng.normal(self.mean, self.std, (n, 1)).astype(np.float32)

    def density(self, x) -> np.ndarray:
        z = (np.asarray(x, np.float64) - self.mean) / self.std
        return np.exp(-0.5 * z**2) / (self.std * math.sqrt(2 * math.pi))


# Close enough to the starting p_g (about N(0, 0.43^2), |G| < 1.7) that the
# two overlap, as in the paper's panel (a), and D* changes gradually.
DATA = Gaussian1D()
X_RANGE = (-2.0, 3.0)


def mlp(hidden: tuple[int, ...], seed: int, name: str) -> keras.Model:
    """R -> R through tanh layers; a smooth map, so p_g and D* stay smooth."""
    inputs = keras.Input((1,))
    x = inputs
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(
            units, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed + i)
        )(x)
    last = keras.initializers.GlorotUniform(seed + 99)
    outputs = keras.layers.Dense(1, kernel_initializer=last)(x)
    return keras.Model(inputs, outputs, name=name)


def build_gan(
    d_steps: int = 5,
    d_learning_rate: float = 1e-3,
    g_learning_rate: float = 3e-4,
    decay_steps: int = 0,
    adversarial_loss: str = "minimax",
    hidden: tuple[int, ...] = (32, 32),
    seed: int = 0,
) -> GAN:
    """A compiled 1-D GAN: G maps z [N, 1] to x [N, 1], D maps x to a logit.

    Args:
      d_steps: k of Algorithm 1.
      d_learning_rate, g_learning_rate: Adam's (beta_1 = 0.5, as DCGAN). G's
        is the smaller so that D stays near its optimum, the case the paper's
        analysis describes.
      decay_steps: G updates over which both rates fall by cosine to 5 %
        (0: constant). Constant rates leave p_g wobbling around p_data;
        decaying them lets it settle, which panel (d) is about.
      adversarial_loss: "minimax" (the paper's game) or "non_saturating".
      hidden: units of each hidden layer of both networks.
      seed: seeds the initialisers and the model's noise stream.
    """
    generator = mlp(hidden, seed, "generator")
    discriminator = mlp(hidden, seed + 100, "discriminator")
    gan = GAN(
        generator,
        discriminator,
        latent_dim=1,
        d_steps=d_steps,
        adversarial_loss=adversarial_loss,
        noise="gaussian",
        seed=seed,
        name="gan_1d",
    )

    def adam(rate, updates):
        if decay_steps:
            rate = keras.optimizers.schedules.CosineDecay(rate, updates, alpha=0.05)
        return keras.optimizers.Adam(rate, beta_1=0.5)

    # D takes k updates per G update, so its schedule runs k times as long.
    gan.compile(
        d_optimizer=adam(d_learning_rate, decay_steps * d_steps),
        g_optimizer=adam(g_learning_rate, decay_steps),
    )
    return gan


# ----- what the figure shows ------------------------------------------------


def generator_samples(gan: GAN, n: int, seed: int = 0) -> np.ndarray:
    """n draws x = G(z), float64 [n], from a fixed seed (not the training stream)."""
    z = gan.prior.stateless_sample((n, 1), tf.constant([seed, 1]))
    return gan.generator(z, training=False).numpy().astype(np.float64).ravel()


def kde(samples, grid) -> np.ndarray:
    """Gaussian kernel density estimate of ``samples`` on ``grid``.

    A KDE rather than a histogram because D* = p_data / (p_data + p_g) is
    compared point by point with a smooth D: a histogram's steps would add
    their own error. Silverman's bandwidth 0.9 min(std, IQR/1.34) n^(-1/5)
    is about 0.04 for 10^5 samples of the starting p_g, where the smoothing
    bias (h^2 p''/2) stays under 1 % of the density.
    """
    samples = np.asarray(samples, np.float64)
    grid = np.asarray(grid, np.float64)
    iqr = np.subtract(*np.percentile(samples, [75, 25]))
    spread = min(samples.std(), iqr / 1.34) if iqr > 0 else samples.std()
    h = max(0.9 * spread * len(samples) ** -0.2, 1e-3)
    total = np.zeros_like(grid)
    for chunk in np.array_split(samples, max(1, len(samples) // 10_000)):  # bounded memory
        total += np.exp(-0.5 * ((grid[:, None] - chunk[None, :]) / h) ** 2).sum(axis=1)
    return total / (len(samples) * h * math.sqrt(2 * math.pi))


def generator_density(gan: GAN, grid, num_samples: int = 100_000, seed: int = 0) -> np.ndarray:
    """p_g on ``grid``, estimated by :func:`kde` from ``num_samples`` draws of G."""
    return kde(generator_samples(gan, num_samples, seed), grid)


def discriminator_on(gan: GAN, grid) -> np.ndarray:
    """D(x) = sigmoid(logit) on ``grid``, float64 [len(grid)]."""
    x = tf.constant(np.asarray(grid, np.float32).reshape(-1, 1))
    return tf.sigmoid(gan.discriminate(x, None, training=False)).numpy().astype(np.float64)


def optimal_discriminator(p_data, p_g) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Proposition 1); 1/2 where both vanish."""
    p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


# ----- Theorem 1 ------------------------------------------------------------


def criterion_on_grid(p_data, p_g, grid) -> tuple[float, float]:
    """Theorem 1's two sides for two densities on ``grid`` (trapezoid rule):
    (V(G, D*) = int p_data log D* + p_g log(1 - D*), with D* of Proposition 1;
    -log 4 + 2 JSD(p_data || p_g)). Where a density vanishes its term is 0."""
    p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
    # log D* and log(1 - D*) as differences of logs: 1 - D* rounds to 0 where
    # p_g is a tiny fraction of p_data, yet p_g log(1 - D*) is finite there.
    total = p_data + p_g
    value = _xlogy(p_data, p_data) + _xlogy(p_g, p_g) - _xlogy(total, total)
    middle = 0.5 * total
    divergence = 0.5 * (_xlogy(p_data, p_data) - _xlogy(p_data, middle))
    divergence += 0.5 * (_xlogy(p_g, p_g) - _xlogy(p_g, middle))
    return float(np.trapezoid(value, grid)), float(
        -math.log(4) + 2 * np.trapezoid(divergence, grid)
    )


def virtual_criterion(gan: GAN, data: Gaussian1D = DATA, num_samples=100_000, seed=0) -> dict:
    """C(G) = max_D V(G, D) of the generator now, computed two ways (Theorem 1).

    ``value``: V(G, D*) as eq. (1) defines it, expectations over draws x ~
    p_data and x = G(z) (Monte Carlo), with D* = p_data / (p_data + p_g) of
    Proposition 1, p_g a :func:`kde` of G's draws. ``via_jsd``: -log 4 + 2
    JSD(p_data || p_g), the divergence integrated numerically over the two
    densities. Theorem 1 says they are equal, and -log 4 only at p_g = p_data.

    Returns:
      {"value", "via_jsd", "jsd"}, in nats.
    """
    x_g = generator_samples(gan, num_samples, seed)
    x_data = data.sample(np.random.default_rng(seed), num_samples).ravel().astype(np.float64)
    spread = 8 * data.std
    grid = np.linspace(
        min(x_g.min(), data.mean - spread) - 1.0, max(x_g.max(), data.mean + spread) + 1.0, 4001
    )
    p_data, p_g = data.density(grid), kde(x_g, grid)
    d_star = optimal_discriminator(p_data, p_g)
    at = lambda x: np.clip(np.interp(x, grid, d_star), 1e-12, 1 - 1e-12)  # noqa: E731
    value = float(np.mean(np.log(at(x_data))) + np.mean(np.log1p(-at(x_g))))
    via_jsd = criterion_on_grid(p_data, p_g, grid)[1]
    return {"value": value, "via_jsd": via_jsd, "jsd": (via_jsd + math.log(4)) / 2}


def _xlogy(x, y) -> np.ndarray:
    """x log y, 0 where x is 0."""
    return np.where(x > 0, x * np.log(np.where(x > 0, y, 1.0)), 0.0)


# ----- training -------------------------------------------------------------


def train_discriminator(
    gan: GAN,
    data: Gaussian1D,
    steps: int,
    batch_size: int,
    rng: np.random.Generator,
    every=(),
    callback=None,
) -> None:
    """``steps`` of GAN.discriminator_update with G fixed, each on fresh data and
    noise: D approaches D* of Proposition 1. ``every`` and ``callback`` as in
    :func:`train`."""
    update = tf.function(gan.discriminator_update)
    every = set(every)
    for step in range(1, steps + 1):
        update({"image": data.sample(rng, batch_size)})
        if callback and step in every:
            callback(step)


def train(
    gan: GAN,
    data: Gaussian1D,
    steps: int,
    batch_size: int,
    rng: np.random.Generator,
    every=(),
    callback=None,
) -> None:
    """``steps`` iterations of Algorithm 1 (GAN.train_step on k*m fresh data).

    ``callback(step)`` runs after every step in ``every`` (1-based step counts).
    """
    step_fn = tf.function(gan.train_step)
    every = set(every)
    for step in range(1, steps + 1):
        step_fn({"image": data.sample(rng, gan.d_steps * batch_size)})
        if callback and step in every:
            callback(step)


@dataclasses.dataclass
class Snapshot:
    """Everything one panel draws, taken at one moment of training."""

    title: str
    grid: np.ndarray
    p_data: np.ndarray
    p_g: np.ndarray
    d: np.ndarray
    z_marks: np.ndarray  # CDF values of the drawn z, evenly spaced in (0, 1)
    x_marks: np.ndarray  # G(z) at those z


def snapshot(
    gan: GAN, data: Gaussian1D, title: str, num_samples: int = 20_000, num_marks: int = 15
) -> Snapshot:
    """The networks and densities now, on a grid over X_RANGE."""
    grid = np.linspace(*X_RANGE, 300)
    u = (np.arange(num_marks) + 0.5) / num_marks
    z = np.array([[NormalDist().inv_cdf(p)] for p in u], np.float32)
    x = gan.generator(z, training=False).numpy().ravel()
    return Snapshot(
        title,
        grid,
        data.density(grid),
        generator_density(gan, grid, num_samples),
        discriminator_on(gan, grid),
        u,
        x,
    )


def figure1(
    steps: int = 2000,
    optimum_steps: int = 1000,
    panel_c_step: int = 100,
    batch_size: int = 256,
    num_frames: int = 80,
    seed: int = 0,
    data: Gaussian1D = DATA,
    **gan_options,
):
    """Trains the toy GAN from scratch; returns (the four panels, the GIF's frames, the GAN).

    Training: D alone for ``optimum_steps`` (panel b), then ``steps`` of
    Algorithm 1; panel (c) is taken after ``panel_c_step`` of them. The
    frames are spaced geometrically in the step count, since p_g moves most
    in the first few hundred steps and barely at the end. ``gan_options``
    go to :func:`build_gan`.
    """
    rng = np.random.default_rng(seed)
    gan = build_gan(decay_steps=steps, seed=seed, **gan_options)
    panels = [snapshot(gan, data, "(a) start")]
    frames = [panels[0]]
    train_discriminator(
        gan,
        data,
        optimum_steps,
        batch_size,
        rng,
        every=_geometric(optimum_steps, max(2, num_frames // 8)),
        callback=lambda step: frames.append(snapshot(gan, data, f"D alone, update {step}")),
    )
    panels.append(dataclasses.replace(frames[-1], title="(b) D trained to D* against G"))

    def record(step):
        shot = snapshot(gan, data, f"Algorithm 1, step {step}")
        frames.append(shot)
        if step == panel_c_step:
            panels.append(dataclasses.replace(shot, title=f"(c) after {step} G updates"))

    train(
        gan,
        data,
        steps,
        batch_size,
        rng,
        every=set(_geometric(steps, num_frames)) | {panel_c_step, steps},
        callback=record,
    )
    panels.append(dataclasses.replace(frames[-1], title=f"(d) after {steps} G updates"))
    return panels, frames, gan


def support(shot: Snapshot, fraction: float = 0.05) -> np.ndarray:
    """Where p_data + p_g is at least ``fraction`` of its peak: elsewhere
    neither network sees enough samples for D to be pinned down."""
    total = shot.p_data + shot.p_g
    return total >= fraction * total.max()


def _geometric(last: int, num: int) -> list[int]:
    """About ``num`` distinct step counts from 1 to ``last``, geometrically spaced."""
    return sorted(set(np.geomspace(1, last, max(num, 2)).round().astype(int).tolist()))


# ----- drawing --------------------------------------------------------------

Z_LINE = -0.45  # height of the z line under the x axis


def draw_panel(ax, shot: Snapshot) -> None:
    """One panel in the paper's style: p_data black dots, p_g green, D blue dashed,
    and lines from the z line (below) to x = G(z) on the x axis."""
    lo, hi = X_RANGE
    # Densities share D's [0, 1] axis, scaled so p_data peaks at 0.8.
    scale = 0.8 / shot.p_data.max()
    ax.plot(shot.grid[::4], scale * shot.p_data[::4], "k.", markersize=3, label="$p_{data}$")
    ax.plot(shot.grid, scale * shot.p_g, "g-", linewidth=1.6, label="$p_g$")
    ax.plot(shot.grid, shot.d, "b--", linewidth=1.4, label="$D$")
    ax.axhline(0.0, color="k", linewidth=0.8)
    ax.axhline(Z_LINE, color="k", linewidth=0.8)
    for u, x in zip(shot.z_marks, shot.x_marks):
        ax.annotate(
            "",
            xy=(x, 0.0),
            xytext=(lo + (hi - lo) * u, Z_LINE),
            arrowprops=dict(arrowstyle="->", color="0.35", linewidth=0.7),
        )
    ax.text(lo, Z_LINE - 0.03, " z", va="top", fontsize=9)
    ax.text(lo, -0.03, " x", va="top", fontsize=9)
    ax.set_xlim(lo, hi)
    ax.set_ylim(Z_LINE - 0.2, 1.35)
    ax.set_yticks([0.0, 0.5, 1.0])
    ax.set_title(shot.title, fontsize=10)


def render(shots: list[Snapshot], width: float, height: float, dpi: int = 100) -> np.ndarray:
    """Draws ``shots`` side by side; returns uint8 [H, W, 3]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_zoo.visualization import figure_to_array

    figure, axes = plt.subplots(1, len(shots), figsize=(width, height), dpi=dpi, squeeze=False)
    for ax, shot in zip(axes[0], shots):
        draw_panel(ax, shot)
    axes[0][0].legend(loc="upper left", fontsize=8, frameon=False)
    figure.tight_layout()
    return figure_to_array(figure)


# ----- command line ---------------------------------------------------------


def _define_flags():
    from absl import flags

    flags.DEFINE_string("out", "gan_figure1.png", "Output PNG of the four panels.")
    flags.DEFINE_string("gif", "", "Output GIF of the whole training ('' = none).")
    flags.DEFINE_integer("steps", 2000, "Algorithm 1 iterations (G updates).")
    flags.DEFINE_integer("optimum_steps", 1000, "D-only updates before training, for panel (b).")
    flags.DEFINE_integer("panel_c_step", 100, "Algorithm 1 iterations shown in panel (c).")
    flags.DEFINE_integer("d_steps", 5, "k: D updates per G update.")
    flags.DEFINE_integer("batch_size", 256, "m: examples per minibatch.")
    flags.DEFINE_float("d_learning_rate", 1e-3, "D's initial Adam rate.")
    flags.DEFINE_float("g_learning_rate", 3e-4, "G's initial Adam rate.")
    flags.DEFINE_string(
        "adversarial_loss", "minimax", "The game: minimax (G's loss log(1 - D)) | non_saturating."
    )
    flags.DEFINE_integer("frames", 80, "About this many GIF frames of Algorithm 1.")
    flags.DEFINE_integer("frame_ms", 120, "GIF: milliseconds per frame.")
    flags.DEFINE_integer("seed", 0, "Seeds the networks, the noise and the data.")
    return flags.FLAGS


def check_settings() -> None:
    from gan_zoo import settings
    from gan_zoo.errors import UserError

    for name in (
        "steps",
        "optimum_steps",
        "panel_c_step",
        "d_steps",
        "batch_size",
        "d_learning_rate",
        "g_learning_rate",
        "frames",
        "frame_ms",
    ):
        settings.check_positive(name, FLAGS[name].value)
    if FLAGS.panel_c_step > FLAGS.steps:
        raise UserError(f"--panel_c_step={FLAGS.panel_c_step} must be <= --steps={FLAGS.steps}.")
    # D must be a probability here: panel (b) compares it with D*(x).
    settings.check_choice("adversarial_loss", FLAGS.adversarial_loss, ("minimax", "non_saturating"))


def main(argv):
    del argv
    import time

    from gan_zoo import visualization

    check_settings()
    start = time.time()
    panels, frames, gan = figure1(
        FLAGS.steps,
        FLAGS.optimum_steps,
        FLAGS.panel_c_step,
        FLAGS.batch_size,
        FLAGS.frames,
        FLAGS.seed,
        d_steps=FLAGS.d_steps,
        d_learning_rate=FLAGS.d_learning_rate,
        g_learning_rate=FLAGS.g_learning_rate,
        adversarial_loss=FLAGS.adversarial_loss,
    )
    trained = time.time()
    png = visualization.save_png(render(panels, 14.0, 3.4), FLAGS.out)
    print(f"Wrote {png}")
    if FLAGS.gif:
        pictures = [render([shot], 5.0, 3.2, dpi=80) for shot in frames]
        # Hold the last frame so the settled state is easy to look at.
        pictures += [pictures[-1]] * 10
        gif = visualization.save_frames_gif(pictures, FLAGS.gif, duration_ms=FLAGS.frame_ms)
        print(f"Wrote {gif} ({len(frames)} frames)")
    b, d = panels[1], panels[-1]
    x = generator_samples(gan, 100_000)
    print(
        f"(b) max |D - D*| where p_data + p_g >= 5 % of its peak: "
        f"{np.abs(b.d - optimal_discriminator(b.p_data, b.p_g))[support(b)].max():.3f}"
    )
    print(
        f"(d) max |D - 1/2| there: {np.abs(d.d - 0.5)[support(d)].max():.3f}; p_g's mean "
        f"{x.mean():.3f}, std {x.std():.3f} (p_data's: {DATA.mean}, {DATA.std})"
    )
    for shot in (panels[0], d):
        value, via_jsd = criterion_on_grid(shot.p_data, shot.p_g, shot.grid)
        print(
            f"{shot.title}: C(G) = V(G, D*) {value:.4f}, -log 4 + 2 JSD {via_jsd:.4f} "
            f"(Theorem 1; -log 4 = {-math.log(4):.4f})"
        )
    print(f"Training {trained - start:.0f} s, drawing {time.time() - trained:.0f} s")


if __name__ == "__main__":
    FLAGS = _define_flags()
    cli.run(main, check=check_settings)
