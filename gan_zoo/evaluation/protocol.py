"""The evaluation protocol: which real images each metric compares samples
with, and one function that scores a set of samples (``gan_zoo.evaluate`` and the
periodic evaluation during training both call it).

Real sets, from the dataset's splits (pixels in [0, 1]):

- ``test``: the whole test split (MNIST: 10,000 digits); the Parzen test set
  and the FID / KID reference;
- ``validation``: 1,000 images that choose the Parzen width; MNIST's training
  digits 50,000-51,000 as in the GAN and AAE papers (the start of the
  validation split where there is one, else the last 1,000 training images);
- ``train``: up to 10,000 training images scored exactly like samples: the
  real-data ceiling (Parzen) and floor (FID, KID) next to which a model's
  numbers mean something. It depends on the dataset only, so a caller that
  has it already may leave it out (``num_train=0``).
"""

from __future__ import annotations

import numpy as np

from gan_zoo.errors import UserError
from gan_zoo.evaluation import features as features_lib
from gan_zoo.evaluation import parzen, scores
from gan_zoo.metric_names import check_metrics


def draw_in_chunks(draw, num: int, chunk: int = 1000) -> np.ndarray:
    """``num`` images from ``draw(n, i)`` (n images, the i-th call), at most
    ``chunk`` per call so memory stays bounded, concatenated."""
    return np.concatenate(
        [
            np.asarray(draw(min(chunk, num - start), i))
            for i, start in enumerate(range(0, num, chunk))
        ]
    )


def _unit(source, split, start=0, stop=None):
    n = source.num_examples(split)
    stop = n if stop is None else min(stop, n)
    batch = next(iter(source.dataset(split).skip(start).take(stop - start).batch(stop - start)))
    return batch["image"].numpy().astype(np.float32) / 255.0


def real_sets(source, num_train: int = 10000) -> dict:
    """{"test", "validation", "train"} real images in [0, 1] (see the module
    docstring); without "train" if ``num_train`` is 0."""
    splits = source.split_names()
    if "test" not in splits:
        raise UserError(f"dataset {source.name!r} has no test split to evaluate against.")
    train_n = source.num_examples("train")
    if "validation" in splits:
        validation, train_stop = _unit(source, "validation", 0, 1000), train_n
    else:
        validation, train_stop = _unit(source, "train", train_n - 1000), train_n - 1000
    sets = {"test": _unit(source, "test"), "validation": validation}
    if num_train:
        sets["train"] = _unit(source, "train", 0, min(num_train, train_stop))
    return sets


def validation_sets(source, num: int = 10000) -> dict:
    """Real sets for scoring *during* training, from held-out data only, so that
    choosing an epoch by them never looks at the test split.

    Shaped like :func:`real_sets` so :func:`evaluate` takes them: Parzen's
    width is chosen on the first 1,000 validation images (``"validation"``)
    and the score (and FID's reference) comes from the next ones, up to
    ``num`` (``"test"``, here a name only). MNIST's paper split gives 1,000 +
    9,000 of digits 50,000-60,000; a dataset without a validation split lends
    the last 2,000 training images (1,000 + 1,000), which the model trains on.
    """
    if "validation" in source.split_names():
        split, start = "validation", 0
    else:
        split, start = "train", max(0, source.num_examples("train") - 2000)
    images = _unit(source, split, start, start + min(num, 10000))
    cut = min(1000, len(images) // 2)
    return {"validation": images[:cut], "test": images[cut:]}


def at_data_size(samples, image_shape) -> np.ndarray:
    """Samples of a model that works at another size than its data (a 32 px
    DCGAN of 28 px digits) at the data's size, undoing what training did to
    the data, so that they are compared with real images of that size."""
    samples = np.asarray(samples)
    if samples.shape[1:] == tuple(image_shape) or samples.shape[-1] != image_shape[-1]:
        return samples
    from gan_zoo.datasets.pipeline import to_data_size

    return to_data_size(samples, image_shape).numpy()


def check_images(images, image_shape) -> np.ndarray:
    """Samples as float32 [N, H, W, C] in [0, 1], from uint8 0-255 or float 0-1,
    shaped (N, H, W, C), (N, H, W) for one channel, or (N, H*W*C).

    Raises:
      UserError: a shape or value range that is none of these.
    """
    x = np.asarray(images)
    h, w, c = image_shape
    if x.ndim == 2 and x.shape[1] == h * w * c:
        x = x.reshape(len(x), h, w, c)
    elif x.ndim == 3 and c == 1 and x.shape[1:] == (h, w):
        x = x[..., None]
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(image_shape) or len(x) < 2:
        raise UserError(
            f"samples of shape {np.shape(images)} do not fit the dataset's "
            f"{h}x{w}x{c} images; give (N, {h}, {w}, {c}), (N, {h * w * c})"
            + (f" or (N, {h}, {w})" if c == 1 else "")
            + " with N >= 2."
        )
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if x.min() < -1e-3 or x.max() > 1.0 + 1e-3:
        raise UserError(
            f"float samples must be in [0, 1] (got {x.min():.3g} to "
            f"{x.max():.3g}); pass uint8 0-255 or scale them."
        )
    return np.clip(x, 0.0, 1.0)


def _feature_scores(metrics, extract, samples, reference):
    out = {}
    sample_features, sample_probs = extract(samples)
    if "fid" in metrics:
        out["fid"] = scores.fid(sample_features, reference)
    if "kid" in metrics:
        out["kid"], out["kid_std"] = scores.kid(sample_features, reference)
    if "is" in metrics:
        out["is"], out["is_std"] = scores.inception_score(sample_probs)
    if "coverage" in metrics:
        out.update(scores.mode_coverage(sample_probs))
    return out


def needs_features(metrics) -> bool:
    """Whether any of ``metrics`` is computed on features (all but Parzen)."""
    return bool(set(check_metrics(metrics)) - {"parzen"})


def reference_features(real: dict, metrics, extractor):
    """Features of ``real["test"]``, the FID / KID reference, or None where
    ``metrics`` need no features. A caller that scores samples against the
    same set again and again (every epoch) computes them once and passes them
    to :func:`evaluate`, instead of once per scoring."""
    if not needs_features(metrics):
        return None
    if extractor is None:
        raise ValueError("fid, kid, is and coverage need a feature extractor.")
    return extractor(real["test"])[0]


def evaluate(
    samples,
    real: dict,
    metrics,
    extractor=None,
    progress=None,
    reference=None,
) -> dict:
    """Scores ``samples`` (float [N, H, W, C] in [0, 1]) with ``metrics`` against
    the ``real`` sets of :func:`real_sets`, and their ``train`` set, where there
    is one, the same way as the ceiling.

    Args:
      extractor: a features.extractor(...) for fid / kid / is / coverage.
      progress: optional callable(stage name), called as each part finishes.
      reference: :func:`reference_features` of ``real``, if the caller has them.

    Returns:
      {"samples": {metric: value}, "real_train": {metric: value}, "num_samples": N},
      without "real_train" where ``real`` has no train set.
    """
    progress = progress or (lambda stage: None)
    metrics = check_metrics(metrics)
    on_features = needs_features(metrics)
    if on_features and reference is None:
        reference = reference_features(real, metrics, extractor)
        progress("features of the test set")
    sets = {"samples": samples}
    if "train" in real:
        sets["real_train"] = real["train"]
    result = {"num_samples": len(samples), **{name: {} for name in sets}}
    for name, images in sets.items():
        if "parzen" in metrics:
            result[name]["parzen"] = parzen.parzen_score(images, real["validation"], real["test"])
            progress(f"parzen of {name}")
        if on_features:
            result[name].update(_feature_scores(metrics, extractor, images, reference))
            progress(f"features of {name}")
    return result


def scalars(scores: dict) -> dict:
    """Numbers for logs: the Parzen mean, FID, KID, IS, modes covered and the
    smallest and largest class shares (how far from balanced the samples are)."""
    out = {}
    for name, value in scores.items():
        if name == "parzen":
            out[name] = value["mean"]
        elif name in ("fid", "kid", "is", "modes_covered"):
            out[name] = value
        elif name == "class_shares":
            out["min_class_share"], out["max_class_share"] = min(value), max(value)
    return out


def default_extractor(image_shape) -> str:
    """mnist_classifier for 28x28x1 data, inception for anything else."""
    return "mnist_classifier" if tuple(image_shape) == (28, 28, 1) else "inception"


def extractor_for(metrics, name, inception_weights=None):
    """The extractor the metrics need, or None if only Parzen is asked for."""
    if not needs_features(metrics):
        return None
    return features_lib.extractor(name, inception_weights)
