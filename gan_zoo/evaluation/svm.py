"""Discriminator features as a representation (Radford et al. 2015, Sec. 5.1).

The paper judges what a DCGAN's discriminator learned by using its features
for supervised classification: every discriminator layer's activations,
max-pooled to a 4x4 grid, flattened and concatenated (the export's
``features`` signature), then a regularised linear L2-SVM on top, reporting
test accuracy.

The SVM here is one-vs-rest with the squared hinge loss. For each class k,
with y_ik = +1 if example i is of class k and -1 otherwise, and features
standardised to zero mean and unit variance on the training set::

    minimise over w_k, b_k:   l2/2 (|w_k|^2 + b_k^2)
                              + 1/n sum_i max(0, 1 - y_ik (w_k . x_i + b_k))^2

This is convex and, unlike the plain hinge, continuously differentiable, so
it is minimised with a truncated Newton method (Newton-CG; LIBLINEAR's primal
L2-loss SVM solver is its trust-region variant, Lin, Weng & Keerthi 2008):
each step solves the Newton system (the generalised Hessian l2 I + 2/n X_A^T
X_A, A the examples inside the margin) with conjugate gradients, which only
needs products of the feature matrix with vectors, then a backtracking line
search. All K problems are independent and are solved side by side as the
columns of one [F, K] weight matrix, so the costly operations are large
matrix products. The bias is regularised like the weights, as in LIBLINEAR;
on standardised features that only matters if l2 is large.

Convergence: stop when, for every class, the gradient norm has fallen below
``tol`` times its value at the start (w = 0), LIBLINEAR's criterion (which
also scales tol by the smaller side's share of the examples). The result
records whether that happened within ``steps`` Newton iterations (the
README's probe section gives measured iterations and times).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from gan_zoo.errors import UserError

DEFAULT_L2 = 1e-3
DEFAULT_TOL = 1e-3
DEFAULT_STEPS = 50

# Newton-CG: each inner solve stops at this fraction of the outer gradient
# norm (LIBLINEAR's TRON uses 0.1; on MNIST pixels it needed fewer CG steps in
# total than the Eisenstat-Walker choice sqrt(relative gradient) or a looser
# 0.5) or after this many CG iterations; a truncated solve still descends.
_CG_RELATIVE_TOL = 0.1
_CG_MAX_ITERATIONS = 200
# Backtracking line search: sufficient decrease constant and step halvings.
_ARMIJO = 1e-4
_HALVINGS = 30
# numpy passes over the features go a block of rows at a time, about 16M
# values (128 MB in float64), so that no full-size temporary is ever made.
_VALUES_PER_CHUNK = 1 << 24


def _chunks(array: np.ndarray):
    """Row slices of ``array`` of about _VALUES_PER_CHUNK values each."""
    rows = max(1, _VALUES_PER_CHUNK // max(1, int(np.prod(array.shape[1:]))))
    return [slice(i, i + rows) for i in range(0, len(array), rows)]


@dataclasses.dataclass(frozen=True)
class LinearSVM:
    """A trained one-vs-rest linear SVM, with the standardisation folded into
    ``weights`` and ``bias`` so that it applies to raw features."""

    weights: np.ndarray  # float32 [F, K]
    bias: np.ndarray  # float32 [K]
    l2: float
    newton_iterations: int
    cg_iterations: int
    relative_gradient_norm: float  # worst class, at the end
    converged: bool

    def decision_function(self, features) -> np.ndarray:
        """Per-class scores ``x . w_k + b_k``.

        Args:
          features: float [N, F] raw (unstandardised) features.

        Returns:
          float32 [N, K].
        """
        features = np.asarray(features)
        out = np.empty((len(features), len(self.bias)), np.float32)
        for rows in _chunks(features):
            out[rows] = np.asarray(features[rows], np.float32) @ self.weights + self.bias
        return out

    def predict(self, features) -> np.ndarray:
        """The class with the highest score.

        Args:
          features: float [N, F] raw features.

        Returns:
          int64 [N] class indices.
        """
        return np.argmax(self.decision_function(features), axis=1)


def train_linear_svm(
    features,
    labels,
    num_classes: int,
    l2: float = DEFAULT_L2,
    steps: int = DEFAULT_STEPS,
    tol: float = DEFAULT_TOL,
    log: Callable[[str], None] | None = None,
) -> LinearSVM:
    """Trains the one-vs-rest L2-SVM of the module docstring with Newton-CG.

    The starting point (w = 0) and the solver are deterministic, so there is
    no seed. Memory: a standardised float32 copy of ``features`` (two while
    it is being made).

    Args:
      features: float [n, F] training features.
      labels: int [n] classes in [0, num_classes).
      num_classes: K, >= 2.
      l2: regularisation strength lambda (> 0) of the objective above; in
        LIBLINEAR's terms C = 1 / (n * l2).
      steps: maximum number of Newton iterations.
      tol: relative gradient norm at which every class counts as converged.
      log: called with one line of progress per Newton iteration, if given.

    Returns:
      The trained :class:`LinearSVM`.

    Raises:
      ValueError: bad shapes, labels out of range, l2 <= 0, steps < 1.
    """
    features = np.asarray(features)
    labels = np.asarray(labels).astype(np.int64)
    if features.ndim != 2 or labels.shape != (len(features),) or len(features) == 0:
        raise ValueError(
            f"need features [n, F] and labels [n] with n > 0; got "
            f"{features.shape} and {labels.shape}."
        )
    if num_classes < 2 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}) with num_classes >= 2.")
    if not l2 > 0 or steps < 1:
        raise ValueError(f"need l2 > 0 and steps >= 1; got l2={l2}, steps={steps}.")
    n = len(features)
    mean, inv_std = _standardisation(features)
    xs = _standardised(features, mean, inv_std)
    y = tf.constant(2.0 * np.eye(num_classes, dtype=np.float32)[labels] - 1.0)
    w = tf.zeros([features.shape[1], num_classes])
    b = tf.zeros([num_classes])
    l2_t = tf.constant(l2, tf.float32)
    n_t = tf.constant(float(n), tf.float32)

    loss, gw, gb, active = _loss_and_gradient(xs, y, w, b, l2_t, n_t)
    first_norm = _column_norm(gw, gb).numpy()
    first_norm = np.where(first_norm > 0, first_norm, 1.0)
    relative = _column_norm(gw, gb).numpy() / first_norm
    iterations = cg_total = 0
    while iterations < steps and relative.max() > tol:
        dw, db, cg_steps = _newton_direction(xs, active, gw, gb, l2_t, n_t)
        step = _line_search(xs, y, w, b, dw, db, gw, gb, loss, l2_t, n_t)
        w, b = w + step * dw, b + step * db
        loss, gw, gb, active = _loss_and_gradient(xs, y, w, b, l2_t, n_t)
        relative = _column_norm(gw, gb).numpy() / first_norm
        iterations += 1
        cg_total += int(cg_steps)
        if log:
            log(
                f"svm: Newton iteration {iterations}: objective {float(tf.reduce_sum(loss)):.6g}, "
                f"relative gradient {relative.max():.2e} (tol {tol:g}), "
                f"{int(cg_steps)} CG steps"
            )
        if not np.any(step.numpy() > 0):
            break  # no class can decrease further in float32: stalled at its optimum
    # Fold the standardisation in, so that predicting needs no copy of the data:
    # (x - mean) * inv_std . w + b = x . (inv_std w) + (b - (mean inv_std) . w).
    w64, b64 = w.numpy().astype(np.float64), b.numpy().astype(np.float64)
    raw_w = inv_std[:, None] * w64
    raw_b = b64 - (mean * inv_std) @ w64
    return LinearSVM(
        weights=raw_w.astype(np.float32),
        bias=raw_b.astype(np.float32),
        l2=float(l2),
        newton_iterations=iterations,
        cg_iterations=cg_total,
        relative_gradient_norm=float(relative.max()),
        converged=bool(relative.max() <= tol),
    )


def accuracy(svm: LinearSVM, features, labels) -> float:
    """Fraction of examples whose predicted class is their label.

    Args:
      svm: a trained SVM.
      features: float [N, F] raw features.
      labels: int [N].

    Returns:
      Accuracy in [0, 1].
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined.")
    return float(np.mean(svm.predict(features) == labels))


def extract_features(
    features_fn, images, batch_size: int = 256, image_shape: Sequence[int] | None = None
) -> np.ndarray:
    """Runs images through an export's ``features`` signature in batches.

    Args:
      features_fn: the signature, called as ``features_fn(images=...)`` and
        returning {"features": [B, F]}.
      images: [N, h, w, c] uint8 in [0, 255] or floats in [0, 1].
      batch_size: images per call.
      image_shape: (H, W, C) the export takes; each batch is resized to it
        and grayscale is repeated to 3 channels if needed. None: as given.

    Returns:
      float32 [N, F].

    Raises:
      UserError: colour images for a grayscale model.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1.")
    out = None
    for start in range(0, len(images), batch_size):
        batch = prepare_images(images[start : start + batch_size], image_shape)
        feats = features_fn(images=batch)["features"].numpy()
        if out is None:
            out = np.empty((len(images), feats.shape[1]), np.float32)
        out[start : start + len(feats)] = feats
    if out is None:
        raise ValueError("no images to extract features from.")
    return out


def prepare_images(images, image_shape: Sequence[int] | None = None) -> tf.Tensor:
    """Dataset images -> what an export takes: float32 in [0, 1], resized,
    grayscale repeated to RGB for a colour model.

    Args:
      images: [N, h, w, c] integers in [0, 255] or floats in [0, 1].
      image_shape: target (H, W, C), or None to keep the size and channels.

    Returns:
      float32 [N, H, W, C].

    Raises:
      UserError: the channels cannot be matched (colour data, grayscale model).
    """
    from gan_zoo.datasets.pipeline import resize_images

    images = np.asarray(images)
    scaled = images.astype(np.float32) / (255.0 if np.issubdtype(images.dtype, np.integer) else 1.0)
    batch = tf.constant(scaled)
    if image_shape is None:
        return batch
    have, want = int(batch.shape[-1]), int(image_shape[-1])
    if have != want:
        if have != 1:
            raise UserError(
                f"the export takes {want}-channel images but the data has {have} "
                "channels; probe it with a dataset of matching colour."
            )
        # A colour model still gets a grayscale image it can represent: R = G = B.
        batch = tf.repeat(batch, want, axis=-1)
    return resize_images(batch, image_shape)


def run_probe(
    export,
    train_images,
    train_labels,
    test_images,
    test_labels,
    l2: float | Sequence[float] = DEFAULT_L2,
    num_classes: int | None = None,
    validation_fraction: float = 0.1,
    steps: int = DEFAULT_STEPS,
    tol: float = DEFAULT_TOL,
    batch_size: int = 256,
    log: Callable[[str], None] | None = None,
) -> dict:
    """The whole Sec. 5.1 experiment: features of labelled images from the
    export's discriminator, an L2-SVM on the training ones, test accuracy.

    Args:
      export: an export directory or a loaded ``gan_zoo.exported.Export``.
      train_images, test_images: [N, h, w, c] uint8 (or floats in [0, 1]);
        resized and channel-matched to the export.
      train_labels, test_labels: int [N].
      l2: the SVM's regularisation; several values are compared on the last
        ``validation_fraction`` of the training set and the best one is
        retrained on all of it.
      num_classes: K (default: largest label + 1).
      validation_fraction: hold-out share when several l2 values are given.
      steps, tol: the SVM's Newton iteration cap and convergence tolerance.
      batch_size: images per call of the export.
      log: called with progress lines, if given.

    Returns:
      A JSON-ready dict: test_accuracy, test_error, train_accuracy,
      num_features, num_classes, train_examples, test_examples, l2 (chosen),
      validation_accuracy (per l2, only when several were given), svm
      convergence facts and timings.

    Raises:
      UserError: the export has no ``features`` signature (not a DCGAN).
    """
    from gan_zoo.exported import Export, load_export

    if not isinstance(export, Export):
        export = load_export(export)
    features_fn = export.signature(
        "features",
        "probe needs a DCGAN export (train.py --model=dcgan), whose discriminator "
        "features it classifies",
    )
    say = log or (lambda line: None)
    l2_values = [float(v) for v in (l2 if isinstance(l2, (list, tuple)) else [l2])]
    train_labels = np.asarray(train_labels, np.int64)
    test_labels = np.asarray(test_labels, np.int64)
    num_classes = int(num_classes or max(train_labels.max(), test_labels.max()) + 1)

    started = time.time()
    say(f"extracting features of {len(train_images)} training and {len(test_images)} test images")
    train_features = extract_features(features_fn, train_images, batch_size, export.image_shape)
    test_features = extract_features(features_fn, test_images, batch_size, export.image_shape)
    feature_seconds = time.time() - started

    started = time.time()
    result = {}
    if len(l2_values) > 1:
        held_out = max(1, int(round(len(train_labels) * validation_fraction)))
        if held_out >= len(train_labels):
            raise UserError(
                f"{len(train_labels)} training examples are too few to hold out a "
                "validation set for choosing among several l2 values."
            )
        fit, val = slice(0, -held_out), slice(-held_out, None)
        scores = {}
        for value in l2_values:
            svm = train_linear_svm(
                train_features[fit],
                train_labels[fit],
                num_classes,
                l2=value,
                steps=steps,
                tol=tol,
                log=log,
            )
            scores[value] = accuracy(svm, train_features[val], train_labels[val])
            say(f"l2={value:g}: validation accuracy {scores[value]:.4f}")
        # max() keeps the first of equals: list l2 values from the preferred end.
        chosen = max(l2_values, key=lambda v: scores[v])
        result["validation_accuracy"] = {f"{v:g}": scores[v] for v in l2_values}
    else:
        chosen = l2_values[0]
    svm = train_linear_svm(
        train_features, train_labels, num_classes, l2=chosen, steps=steps, tol=tol, log=log
    )
    svm_seconds = time.time() - started
    test_accuracy = accuracy(svm, test_features, test_labels)
    result.update(
        {
            "export": export.directory,
            "test_accuracy": test_accuracy,
            "test_error": 1.0 - test_accuracy,
            "train_accuracy": accuracy(svm, train_features, train_labels),
            "num_features": int(train_features.shape[1]),
            "num_classes": num_classes,
            "train_examples": int(len(train_labels)),
            "test_examples": int(len(test_labels)),
            "l2": chosen,
            "svm_converged": svm.converged,
            "svm_newton_iterations": svm.newton_iterations,
            "svm_cg_iterations": svm.cg_iterations,
            "svm_relative_gradient_norm": svm.relative_gradient_norm,
            "feature_seconds": round(feature_seconds, 2),
            "svm_seconds": round(svm_seconds, 2),
        }
    )
    return result


# --- Newton-CG internals --------------------------------------------------


def _standardisation(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and 1/std in float64, a chunk at a time so that a
    50k x 28k feature matrix needs no float64 copy; constant features get
    1/std = 1 (they are then all zero and carry no weight)."""
    total = np.zeros(features.shape[1], np.float64)
    for rows in _chunks(features):
        total += features[rows].sum(axis=0, dtype=np.float64)
    mean = total / len(features)
    squares = np.zeros_like(total)
    for rows in _chunks(features):
        squares += np.square(features[rows] - mean).sum(axis=0)
    std = np.sqrt(squares / len(features))
    tiny = std <= 1e-8 * np.maximum(1.0, np.abs(mean))
    return mean, np.where(tiny, 1.0, 1.0 / np.where(tiny, 1.0, std))


def _standardised(features: np.ndarray, mean: np.ndarray, inv_std: np.ndarray) -> tf.Tensor:
    """(features - mean) * inv_std as one float32 tensor. Built from chunks:
    converting a whole numpy array to a tensor briefly takes two copies of
    it, and a standardised numpy copy would be a third."""
    mean, inv_std = tf.constant(mean, tf.float32), tf.constant(inv_std, tf.float32)
    return tf.concat(
        [(tf.constant(features[rows], tf.float32) - mean) * inv_std for rows in _chunks(features)],
        axis=0,
    )


def _column_norm(gw, gb):
    return tf.sqrt(tf.reduce_sum(tf.square(gw), axis=0) + tf.square(gb))


@tf.function
def _loss_and_gradient(xs, y, w, b, l2, n):
    """Per-class objective [K], its gradient ([F, K], [K]) and the active set
    (examples inside the margin, [n, K]) that defines the Hessian."""
    slack = tf.nn.relu(1.0 - y * (tf.matmul(xs, w) + b))
    loss = (
        0.5 * l2 * (tf.reduce_sum(tf.square(w), axis=0) + tf.square(b))
        + tf.reduce_sum(tf.square(slack), axis=0) / n
    )
    d_scores = -2.0 / n * y * slack
    gw = l2 * w + tf.matmul(xs, d_scores, transpose_a=True)
    gb = l2 * b + tf.reduce_sum(d_scores, axis=0)
    return loss, gw, gb, tf.cast(slack > 0, tf.float32)


def _hessian_times(xs, active, vw, vb, l2, n):
    """(Generalised) Hessian-vector product: l2 v + 2/n X_A^T X_A v, per class."""
    z = active * (tf.matmul(xs, vw) + vb)
    return (
        l2 * vw + 2.0 / n * tf.matmul(xs, z, transpose_a=True),
        l2 * vb + 2.0 / n * tf.reduce_sum(z, axis=0),
    )


@tf.function
def _newton_direction(xs, active, gw, gb, l2, n):
    """Solves H d = -g by conjugate gradients, every class (column) at once
    with its own step sizes; a class stops moving once its residual is below
    ``_CG_RELATIVE_TOL`` times its gradient norm."""
    target = tf.square(_CG_RELATIVE_TOL * _column_norm(gw, gb))
    dw, db = tf.zeros_like(gw), tf.zeros_like(gb)
    rw, rb = -gw, -gb
    pw, pb = rw, rb
    rr = tf.reduce_sum(tf.square(rw), axis=0) + tf.square(rb)
    i = tf.constant(0)
    while i < _CG_MAX_ITERATIONS and tf.reduce_any(rr > target):
        hw, hb = _hessian_times(xs, active, pw, pb, l2, n)
        running = rr > target
        curvature = tf.reduce_sum(pw * hw, axis=0) + pb * hb
        alpha = tf.where(running, rr / tf.maximum(curvature, 1e-30), 0.0)
        dw, db = dw + alpha * pw, db + alpha * pb
        rw, rb = rw - alpha * hw, rb - alpha * hb
        rr_next = tf.reduce_sum(tf.square(rw), axis=0) + tf.square(rb)
        beta = tf.where(running, rr_next / tf.maximum(rr, 1e-30), 0.0)
        pw, pb = rw + beta * pw, rb + beta * pb
        rr = rr_next
        i += 1
    return dw, db, i


@tf.function
def _line_search(xs, y, w, b, dw, db, gw, gb, loss, l2, n):
    """Per class, the largest step 2^-j (j < _HALVINGS) with sufficient
    decrease, or 0 if none. The objective is cheap along the line once the
    scores' direction X d is known, so all candidates are tried at once."""
    scores = tf.matmul(xs, w) + b
    along = tf.matmul(xs, dw) + db
    steps = tf.pow(0.5, tf.range(_HALVINGS, dtype=tf.float32))[:, None]  # [J, 1]
    slack = tf.nn.relu(1.0 - y[None] * (scores[None] + steps[:, :, None] * along[None]))
    ww = tf.reduce_sum(tf.square(w), axis=0) + tf.square(b)
    wd = tf.reduce_sum(w * dw, axis=0) + b * db
    dd = tf.reduce_sum(tf.square(dw), axis=0) + tf.square(db)
    candidate = (
        0.5 * l2 * (ww + 2.0 * steps * wd + tf.square(steps) * dd)
        + tf.reduce_sum(tf.square(slack), axis=1) / n
    )  # [J, K]
    slope = tf.reduce_sum(gw * dw, axis=0) + gb * db
    ok = candidate <= loss + _ARMIJO * steps * slope
    # The first acceptable candidate is the largest step.
    first = tf.argmax(tf.cast(ok, tf.int32), axis=0)
    chosen = tf.gather(steps[:, 0], first)
    return tf.where(tf.reduce_any(ok, axis=0), chosen, 0.0)
