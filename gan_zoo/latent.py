"""Walks and arithmetic in the latent space z (Radford et al. 2015, Sec. 6).

Pure numpy: vectors in, float32 vectors out. The tools ``gan_zoo.walk`` and
``gan_zoo.arithmetic`` decode the results with an export's ``generate`` signature.

Interpolation methods (``METHODS``):

* ``lerp``: the straight line ``(1 - t) a + t b``. For high-dimensional noise
  its midpoint has a markedly smaller norm than either end (two independent
  100-d draws are nearly orthogonal, so the midpoint norm is about 0.71 times
  theirs): the generator is asked for codes it almost never saw in training.
* ``slerp``: along the great circle from the direction of a to the direction
  of b, with the norm interpolated linearly, so equal-norm endpoints give a
  path of constant norm (White 2016, "Sampling Generative Networks"). See
  :func:`slerp` for the formula.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METHODS = ("slerp", "lerp")

# Below this sin(angle) the two directions are treated as parallel (or
# antiparallel): the great circle through them is then numerically (or truly)
# undefined, and the straight line is the sensible path.
_PARALLEL_SIN = 1e-6


def lerp(a, b, t) -> np.ndarray:
    """Linear interpolation ``(1 - t) a + t b``.

    Args:
      a: start vector [d].
      b: end vector [d].
      t: a scalar or a 1-D array of positions, 0 at a and 1 at b.

    Returns:
      float32 [d] for scalar t, else [len(t), d].
    """
    a, b, t, scalar = _prepare(a, b, t)
    out = (1.0 - t) * a + t * b
    return _finish(out, scalar)


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation with linearly interpolated norm.

    With ``theta = arccos(a.b / (|a| |b|))``, the angle between a and b::

        slerp(a, b, t) = ((1 - t) |a| + t |b|)
                         * (sin((1 - t) theta) a/|a| + sin(t theta) b/|b|) / sin(theta)

    The bracket is a unit vector in the plane of a and b at angle ``t * theta``
    from a (the great-circle arc), so the direction turns at a constant rate
    and the norm moves linearly from |a| to |b|. For |a| = |b| this is exactly
    White's (2016) slerp ``sin((1-t) theta)/sin(theta) a + sin(t theta)/sin(theta) b``;
    White's form applied to unequal norms makes the norm neither constant nor
    linear, hence the separation of norm and direction here.

    When ``sin(theta) < 1e-6`` (a and b parallel or antiparallel) or either
    vector is zero, the arc is undefined and this falls back to :func:`lerp`.

    Args:
      a: start vector [d].
      b: end vector [d].
      t: a scalar or a 1-D array of positions, 0 at a and 1 at b.

    Returns:
      float32 [d] for scalar t, else [len(t), d]; t = 0 gives a and t = 1
      gives b exactly.
    """
    a, b, t, scalar = _prepare(a, b, t)
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0.0 or norm_b == 0.0:
        return lerp(a[0], b[0], t[0, 0] if scalar else t[:, 0])
    unit_a, unit_b = a / norm_a, b / norm_b
    theta = np.arccos(np.clip(np.sum(unit_a * unit_b), -1.0, 1.0))
    sin_theta = np.sin(theta)
    if sin_theta < _PARALLEL_SIN:
        return lerp(a[0], b[0], t[0, 0] if scalar else t[:, 0])
    direction = (np.sin((1.0 - t) * theta) * unit_a + np.sin(t * theta) * unit_b) / sin_theta
    out = ((1.0 - t) * norm_a + t * norm_b) * direction
    # Make the endpoints bit-exact, so that a walk decodes its anchor codes to
    # exactly the images the anchors were sampled as.
    out = np.where(t == 0.0, a, np.where(t == 1.0, b, out))
    return _finish(out, scalar)


_INTERPOLATORS = {"slerp": slerp, "lerp": lerp}


def interpolate(a, b, steps: int, method: str = "slerp") -> np.ndarray:
    """Evenly spaced points from a to b, both included.

    Args:
      a: start vector [d].
      b: end vector [d].
      steps: number of points, >= 2.
      method: one of ``METHODS``.

    Returns:
      float32 [steps, d]; row 0 is a and row steps-1 is b.

    Raises:
      ValueError: steps < 2 or an unknown method.
    """
    if steps < 2:
        raise ValueError(f"steps={steps} must be >= 2 (both endpoints are included).")
    return _interpolator(method)(a, b, np.linspace(0.0, 1.0, steps))


def walk(zs, steps_between: int, method: str = "slerp") -> np.ndarray:
    """A path through several anchor points in order.

    Args:
      zs: anchors [k, d], k >= 2.
      steps_between: points strictly between two consecutive anchors, >= 0.
      method: one of ``METHODS``; each segment is interpolated on its own.

    Returns:
      float32 [(k - 1) * (steps_between + 1) + 1, d]: every anchor appears
      once, at rows 0, steps_between + 1, 2 * (steps_between + 1), ...

    Raises:
      ValueError: fewer than two anchors, steps_between < 0, unknown method.
    """
    zs = np.asarray(zs, np.float32)
    if zs.ndim != 2 or len(zs) < 2:
        raise ValueError(f"walk needs at least two anchors [k, d]; got shape {zs.shape}.")
    if steps_between < 0:
        raise ValueError(f"steps_between={steps_between} must be >= 0.")
    _interpolator(method)
    # Drop each segment's last point: it is the next segment's first.
    segments = [
        interpolate(zs[i], zs[i + 1], steps_between + 2, method)[:-1] for i in range(len(zs) - 1)
    ]
    return np.concatenate(segments + [zs[-1:]], axis=0)


def concept_vector(zs, indices: Sequence[int]) -> np.ndarray:
    """The mean of chosen codes: the paper averages several exemplars of a
    concept because single codes were unstable under arithmetic.

    Args:
      zs: codes [N, d].
      indices: non-empty sequence of row indices into zs, each in [0, N).

    Returns:
      float32 [d].

    Raises:
      ValueError: empty indices.
      IndexError: an index outside [0, N) (negative ones are rejected rather
        than counted from the end, since they are always a user's slip here).
    """
    zs = np.asarray(zs, np.float32)
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("a concept needs at least one index.")
    bad = [i for i in indices if not 0 <= i < len(zs)]
    if bad:
        raise IndexError(f"indices {bad} are outside [0, {len(zs)}).")
    return zs[indices].astype(np.float64).mean(axis=0).astype(np.float32)


def arithmetic(a, b, c) -> np.ndarray:
    """Vector arithmetic ``a - b + c`` (e.g. smiling woman - woman + man).

    Args:
      a, b, c: vectors [d] (usually from :func:`concept_vector`).

    Returns:
      float32 [d].
    """
    a, b, c = (np.asarray(v, np.float64) for v in (a, b, c))
    return (a - b + c).astype(np.float32)


def perturb(z, num: int, scale: float, rng=None, distribution: str = "uniform") -> np.ndarray:
    """``num`` codes around z, the first one z itself.

    The paper (Fig. 7) shows the result of the arithmetic with "uniform noise
    sampled with scale +-0.25 added" for its variations; ``distribution``
    "uniform" reproduces that, "gaussian" uses N(0, scale^2) instead.

    Args:
      z: centre [d].
      num: number of codes, >= 1.
      scale: half-width of the uniform noise, or standard deviation of the
        Gaussian noise, >= 0.
      rng: a numpy Generator or a seed (None: fresh entropy).
      distribution: "uniform" or "gaussian".

    Returns:
      float32 [num, d]; row 0 equals z.

    Raises:
      ValueError: num < 1, scale < 0, or an unknown distribution.
    """
    if num < 1:
        raise ValueError(f"num={num} must be >= 1.")
    if scale < 0:
        raise ValueError(f"scale={scale} must be >= 0.")
    z = np.asarray(z, np.float32)
    rng = np.random.default_rng(rng)
    shape = (num - 1,) + z.shape
    if distribution == "uniform":
        noise = rng.uniform(-scale, scale, shape)
    elif distribution == "gaussian":
        noise = rng.normal(0.0, scale, shape)
    else:
        raise ValueError(f"distribution={distribution!r} is not one of: uniform, gaussian.")
    return np.concatenate([z[None], (z[None] + noise).astype(np.float32)], axis=0)


def _interpolator(method: str):
    if method not in _INTERPOLATORS:
        raise ValueError(f"method={method!r} is not one of: {', '.join(METHODS)}.")
    return _INTERPOLATORS[method]


def _prepare(a, b, t):
    """float64 a, b as [1, d] and t as [T, 1], so one expression covers scalar
    and vector t; float64 keeps the arccos accurate for small angles."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be vectors of one length; got {a.shape} and {b.shape}.")
    t = np.asarray(t, np.float64)
    scalar = t.ndim == 0
    if t.ndim > 1:
        raise ValueError(f"t must be a scalar or 1-D; got shape {t.shape}.")
    return a[None], b[None], t.reshape(-1, 1), scalar


def _finish(out: np.ndarray, scalar: bool) -> np.ndarray:
    out = out.astype(np.float32)
    return out[0] if scalar else out
