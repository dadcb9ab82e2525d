"""Priors p(z): GAN noise and the Adversarial Autoencoder's target distributions.

Training draws through a ``keras.random.SeedGenerator`` owned by the model,
so the noise stream is part of the checkpoint; under tf.distribute each
replica takes its own rows of one global draw (:func:`replica_draw`).
Exports draw with stateless ops from a caller-given seed, so the same seed
gives the same images anywhere.

The AAE (Makhzani et al., 2015) also needs, from its target priors, a
log-density (to score how well codes match the prior) and samples tied to a
class label (the paper's Fig. 4, "conditional prior"): one mixture component
or one swiss-roll segment per label. Gaussian and uniform priors have no
per-class structure, so they ignore labels.
"""

from __future__ import annotations

import math

import tensorflow as tf

from gan_zoo.errors import UserError


def replica_seed(generator) -> tf.Tensor:
    """A fresh int64 [2] seed from a keras SeedGenerator, different on every
    tf.distribute replica (the generator's state is mirrored, so its own
    draws would repeat on each)."""
    seed = generator.next()
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return seed
    return tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)


def replica_draw(draw, shape, generator) -> tf.Tensor:
    """``draw(shape, seed)`` (a stateless sampler) for this replica's share of
    the global batch.

    Every replica draws the *global* batch (R times the leading axis) from
    the shared seed and keeps its own rows, in the order tf.distribute splits
    data. Replicas therefore get different numbers, and an R-replica step
    draws exactly what a one-replica step on the same global batch would,
    which keeps runs comparable across machine counts.

    Args:
      draw: function (shape, int64 [2] seed) -> tensor of that shape.
      shape: the local shape; may hold scalar tensors.
      generator: a keras SeedGenerator (advanced once per call).
    """
    seed = generator.next()
    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    if replicas == 1:
        return draw(shape, seed)
    shape = tf.cast(tf.convert_to_tensor(shape), tf.int32)
    rows = shape[0]
    everything = draw(tf.concat([[rows * replicas], shape[1:]], 0), seed)
    start = rows * context.replica_id_in_sync_group
    return everything[start : start + rows]


class Prior:
    """A fixed distribution over R^d.

    Attributes:
      name: registry name.
      dim: dimension d of z, or None where any d works (GAN noise).
    """

    name: str
    dim: int | None = None

    def sample(self, shape, seed) -> tf.Tensor:
        """Draws ``shape`` samples using a keras SeedGenerator (training);
        under tf.distribute, this replica's rows of one global-batch draw
        (see :func:`replica_draw`).

        Args:
          shape: output shape, last axis = d; may hold scalar tensors.
          seed: a ``keras.random.SeedGenerator``; each call advances it.

        Returns:
          float32 tensor of ``shape``.
        """
        return replica_draw(self.stateless_sample, shape, seed)

    def stateless_sample(self, shape, seed) -> tf.Tensor:
        """Draws ``shape`` samples from an int32[2] seed (export, evaluation).

        Args:
          shape: output shape, last axis = d; may be a 1-D int tensor.
          seed: int32 or int64 tensor of shape [2]; same seed, same samples.

        Returns:
          float32 tensor of ``shape``.
        """
        raise NotImplementedError

    def log_prob(self, z) -> tf.Tensor:
        """Log-density of each row of ``z``.

        Args:
          z: float32 tensor [..., d].

        Returns:
          float32 tensor [...].
        """
        raise NotImplementedError

    def sample_for_labels(self, labels, seed) -> tf.Tensor:
        """One code per label, from that label's part of the prior (SeedGenerator).

        This base version ignores the labels: priors without per-class
        structure (Gaussian, uniform) give ordinary samples, so a conditional
        AAE can still run with them.

        Args:
          labels: int tensor [N], values in [0, num_classes).
          seed: a ``keras.random.SeedGenerator``.

        Returns:
          float32 tensor [N, d].
        """
        return self.stateless_sample_for_labels(labels, replica_seed(seed))

    def stateless_sample_for_labels(self, labels, seed) -> tf.Tensor:
        """Like :meth:`sample_for_labels`, from an int32/int64 [2] seed.

        Args:
          labels: int tensor [N], values in [0, num_classes).
          seed: int32 or int64 tensor of shape [2].

        Returns:
          float32 tensor [N, d].
        """
        return self.stateless_sample(self._shape_for(labels), seed)

    def _shape_for(self, labels):
        if self.dim is None:
            raise ValueError(
                f"{type(self).__name__} was built without dim; pass dim= to sample per label."
            )
        return tf.stack([tf.shape(labels)[0], self.dim])

    @classmethod
    def as_target(cls, dim: int, num_classes: int) -> Prior:
        """The AAE target prior of this kind in ``dim`` dimensions (see :func:`target`)."""
        return cls(dim=dim)


class Uniform(Prior):
    """U(-a, a)^d. Goodfellow's code used a = sqrt(3): zero mean, unit variance.

    Args:
      limit: a.
      dim: d, or None to take it from the requested shape.
    """

    name = "uniform"

    def __init__(self, limit: float = math.sqrt(3.0), dim: int | None = None):
        self.limit, self.dim = limit, dim

    def stateless_sample(self, shape, seed):
        return tf.random.stateless_uniform(shape, seed, -self.limit, self.limit)

    def log_prob(self, z):
        """-d log(2a) inside the closed box [-a, a]^d, -inf outside."""
        z = tf.convert_to_tensor(z, tf.float32)
        d = tf.cast(tf.shape(z)[-1], tf.float32)
        inside = tf.reduce_all(tf.abs(z) <= self.limit, axis=-1)
        return tf.where(inside, -d * math.log(2.0 * self.limit), -math.inf)


class Gaussian(Prior):
    """N(0, I).

    Args:
      dim: d, or None to take it from the requested shape.
    """

    name = "gaussian"

    def __init__(self, dim: int | None = None):
        self.dim = dim

    def stateless_sample(self, shape, seed):
        return tf.random.stateless_normal(shape, seed)

    def log_prob(self, z):
        """Exact: -|z|^2 / 2 - d/2 log(2 pi)."""
        z = tf.convert_to_tensor(z, tf.float32)
        d = tf.cast(tf.shape(z)[-1], tf.float32)
        return -0.5 * tf.reduce_sum(tf.square(z), axis=-1) - 0.5 * d * math.log(2.0 * math.pi)


class Categorical(Prior):
    """Cat(K): one-hot vectors of K equally likely categories, the prior the
    AAE's semi-supervised and clustering variants put on their softmax code y.

    A distribution on K points, not a density: ``log_prob`` is the
    probability mass, -log K on one-hot rows and -inf elsewhere.

    Args:
      num_categories: K.
    """

    name = "categorical"

    def __init__(self, num_categories: int):
        self.dim = self.num_categories = int(num_categories)

    def stateless_sample(self, shape, seed):
        picks = tf.random.stateless_uniform((shape[0],), seed, 0, self.num_categories, tf.int32)
        return tf.one_hot(picks, self.num_categories)

    def log_prob(self, z):
        z = tf.convert_to_tensor(z, tf.float32)
        one_hot = tf.logical_and(
            tf.reduce_all((z == 0.0) | (z == 1.0), axis=-1), tf.reduce_sum(z, axis=-1) == 1.0
        )
        return tf.where(one_hot, -math.log(self.num_categories), -math.inf)

    def stateless_sample_for_labels(self, labels, seed):
        """The labels' own one-hot vectors: a label pins the category."""
        del seed
        return tf.one_hot(labels, self.num_categories)


NOISE = {"uniform": Uniform, "gaussian": Gaussian}


def noise(name: str, **kwargs) -> Prior:
    """The noise prior called ``name``."""
    if name not in NOISE:
        raise UserError(f"unknown noise prior {name!r}; choose one of: {', '.join(NOISE)}.")
    return NOISE[name](**kwargs)


# ----- 2-D priors with one part per class ------------------------------------


class _StatelessDraws:
    """The same random inputs from one [2] seed, split so each draw is independent."""

    def __init__(self, seed):
        self.seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 3))

    def labels(self, n, num_classes):
        return tf.random.stateless_uniform((n,), self.seeds[0], 0, num_classes, tf.int32)

    def uniform(self, n):
        return tf.random.stateless_uniform((n,), self.seeds[1])

    def normal(self, n):
        return tf.random.stateless_normal((n, 2), self.seeds[2])


def _rotate(x, y, angle):
    """(x, y) rotated counter-clockwise by ``angle`` (all broadcast together)."""
    cos, sin = tf.cos(angle), tf.sin(angle)
    return x * cos - y * sin, x * sin + y * cos


class _LabelledPlanePrior(Prior):
    """A 2-D prior made of ``num_classes`` equally likely parts, one per label.

    Every sample is ``_place(label, v, eps)`` of a part index, a position
    v ~ U[0, 1) inside the part and noise eps ~ N(0, I_2). The unconditional
    prior is the label-conditioned one with a uniformly random label, which is
    what makes both sampling paths agree with the same log_prob.
    """

    dim = 2

    def __init__(self, num_classes: int):
        if int(num_classes) < 1:
            raise UserError(f"the {self.name} prior needs num_classes >= 1, got {num_classes}.")
        self.num_classes = int(num_classes)

    def _place(self, labels, v, eps):
        """Codes [N, 2] from int32 labels [N], v [N] in [0, 1), eps [N, 2]."""
        raise NotImplementedError

    def _draw(self, labels, draws):
        n = tf.shape(labels)[0]
        return self._place(tf.cast(labels, tf.int32), draws.uniform(n), draws.normal(n))

    def _draw_shape(self, shape, draws):
        # Leading axes are flattened into one batch so the per-part maths
        # only ever sees [N] and [N, 2].
        shape = tf.cast(tf.convert_to_tensor(shape), tf.int32)
        static = tf.get_static_value(shape)
        if static is not None and static[-1] != 2:
            raise ValueError(f"the {self.name} prior is 2-D; asked for shape {list(static)}.")
        labels = draws.labels(tf.reduce_prod(shape[:-1]), self.num_classes)
        return tf.reshape(self._draw(labels, draws), shape)

    def stateless_sample(self, shape, seed):
        return self._draw_shape(shape, _StatelessDraws(seed))

    def stateless_sample_for_labels(self, labels, seed):
        """One code per label, from label k's part, from an int32/int64 [2] seed.

        Args:
          labels: int tensor [N], values in [0, num_classes).
          seed: int32 or int64 tensor of shape [2].

        Returns:
          float32 tensor [N, 2].
        """
        return self._draw(labels, _StatelessDraws(seed))

    @classmethod
    def as_target(cls, dim: int, num_classes: int) -> Prior:
        if dim != 2:
            raise UserError(
                f"the {cls.name} prior is 2-D only, but dim={dim} was asked for; "
                "use a latent dimension of 2 (--latent_dim=2)."
            )
        return cls(num_classes)


class MixtureGaussian(_LabelledPlanePrior):
    """Equal-weight mixture of K 2-D Gaussians on a circle (AAE paper, Figs. 2 and 4).

    Component k has angle phi_k = 2 pi k / K, mean ``shift`` * (cos phi_k,
    sin phi_k), and standard deviation ``radial_std`` along the ray through the
    mean and ``tangential_std`` across it: N((shift, 0), diag(radial_std^2,
    tangential_std^2)) rotated by phi_k. The defaults are the widely used AAE
    reference choice (shift 1.4, stds 0.5 and 0.05), which makes thin spokes
    stretched along the radius, the petal shape of the paper's figures.

    Args:
      num_components: K; also the label count (label k -> component k).
      shift: distance of each mean from the origin.
      radial_std: std along the component's ray.
      tangential_std: std perpendicular to the ray.
    """

    name = "mixture_gaussian"

    def __init__(
        self,
        num_components: int = 10,
        shift: float = 1.4,
        radial_std: float = 0.5,
        tangential_std: float = 0.05,
    ):
        super().__init__(num_components)
        self.shift, self.radial_std, self.tangential_std = shift, radial_std, tangential_std

    @property
    def num_components(self) -> int:
        return self.num_classes

    def angles(self, labels):
        """The angle phi_k of each component index in ``labels``."""
        return tf.cast(labels, tf.float32) * (2.0 * math.pi / self.num_classes)

    @property
    def means(self) -> tf.Tensor:
        """float32 [K, 2], component k's mean in row k."""
        x, y = _rotate(self.shift, 0.0, self.angles(tf.range(self.num_classes)))
        return tf.stack([x, y], axis=1)

    def _place(self, labels, v, eps):
        # Only the component matters here; v is the unused position a
        # swiss-roll segment would need.
        x, y = _rotate(
            self.shift + self.radial_std * eps[:, 0],
            self.tangential_std * eps[:, 1],
            self.angles(labels),
        )
        return tf.stack([x, y], axis=1)

    def log_prob(self, z):
        """Exact: logsumexp over components of log N(z; component k) - log K.

        Args:
          z: float32 tensor [..., 2].

        Returns:
          float32 tensor [...].
        """
        z = tf.convert_to_tensor(z, tf.float32)[..., tf.newaxis, :]
        # Rotating z back by phi_k puts component k on the x axis, where its
        # covariance is diagonal.
        radial, tangential = _rotate(z[..., 0], z[..., 1], -self.angles(tf.range(self.num_classes)))
        mahalanobis = tf.square((radial - self.shift) / self.radial_std) + tf.square(
            tangential / self.tangential_std
        )
        log_norm = math.log(2.0 * math.pi * self.radial_std * self.tangential_std)
        return (
            tf.reduce_logsumexp(-0.5 * mahalanobis, axis=-1) - log_norm - math.log(self.num_classes)
        )


class SwissRoll(_LabelledPlanePrior):
    """A noisy 2-D swiss roll (AAE paper, Fig. 4b).

    u ~ U[0, 1) picks the point spiral(u) = radius sqrt(u) (cos theta, sin theta)
    with theta = 2 pi turns sqrt(u) (an Archimedean spiral, r proportional to
    theta); then z = spiral(u) + N(0, noise_std^2 I). Arc length grows about
    like theta^2, i.e. like u, so points spread almost evenly along the roll.
    Defaults follow the common AAE reference roll (radius 3, two turns, which
    puts turns 1.5 apart); the noise (0.1) is ours: the reference has none,
    and without it there is no 2-D density. Label k owns the segment
    u in [k/K, (k+1)/K).

    Args:
      num_classes: K, the number of equal segments in u.
      radius: radius at the end of the roll (u -> 1).
      turns: number of turns of the roll.
      noise_std: std of the isotropic Gaussian noise around the curve.
      quadrature_points: grid size in u for :meth:`log_prob`.
    """

    name = "swiss_roll"

    def __init__(
        self,
        num_classes: int = 10,
        radius: float = 3.0,
        turns: float = 2.0,
        noise_std: float = 0.1,
        quadrature_points: int = 2000,
    ):
        super().__init__(num_classes)
        self.radius, self.turns, self.noise_std = radius, turns, noise_std
        self.quadrature_points = int(quadrature_points)

    def curve(self, u) -> tf.Tensor:
        """spiral(u), float32 [..., 2], for u in [0, 1] of any shape."""
        root = tf.sqrt(tf.convert_to_tensor(u, tf.float32))
        x, y = _rotate(self.radius * root, 0.0, 2.0 * math.pi * self.turns * root)
        return tf.stack([x, y], axis=-1)

    def _place(self, labels, v, eps):
        u = (tf.cast(labels, tf.float32) + v) / self.num_classes
        return self.curve(u) + self.noise_std * eps

    def log_prob(self, z):
        """Quadrature approximation of log of integral_0^1 N(z; spiral(u), noise_std^2 I) du.

        Midpoint rule on ``quadrature_points`` equal steps in u. With the
        defaults the nodes lie at most 0.036 apart along the curve (0.01 on
        the outer turn), well inside noise_std, so the sum is within about
        1e-4 of the exact log-density. Memory: [..., quadrature_points].

        Args:
          z: float32 tensor [..., 2].

        Returns:
          float32 tensor [...].
        """
        z = tf.convert_to_tensor(z, tf.float32)
        m = self.quadrature_points
        nodes = self.curve((tf.range(m, dtype=tf.float32) + 0.5) / m)
        squared = tf.reduce_sum(tf.square(z[..., tf.newaxis, :] - nodes), axis=-1)
        log_normal = -0.5 * squared / self.noise_std**2 - math.log(
            2.0 * math.pi * self.noise_std**2
        )
        return tf.reduce_logsumexp(log_normal, axis=-1) - math.log(m)


TARGETS = {
    "gaussian": Gaussian,
    "mixture_gaussian": MixtureGaussian,
    "swiss_roll": SwissRoll,
    "uniform": Uniform,
}


def target(name: str, dim: int, num_classes: int = 10) -> Prior:
    """The AAE target prior called ``name``.

    Args:
      name: a key of ``TARGETS``.
      dim: dimension of the codes; must be 2 for mixture_gaussian and swiss_roll.
      num_classes: label count, i.e. mixture components or swiss-roll segments;
        the Gaussian and uniform priors ignore it.

    Returns:
      A :class:`Prior` with ``dim`` set.

    Raises:
      UserError: unknown name, or a 2-D-only prior asked for dim != 2.
    """
    if name not in TARGETS:
        raise UserError(f"unknown prior {name!r}; choose one of: {', '.join(TARGETS)}.")
    if int(dim) < 1:
        raise UserError(f"the prior needs a dimension >= 1, got {dim}.")
    return TARGETS[name].as_target(int(dim), int(num_classes))
