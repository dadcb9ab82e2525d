"""The names of the evaluation's metrics and which way each is better.

The settings check ``--eval_metrics`` and ``--keep_best`` against them and
the training callbacks read the scores by them, without importing the
evaluation itself (gan_zoo/evaluation/protocol.py), which computes them.
"""

from __future__ import annotations

from gan_zoo.errors import UserError

METRICS = ("parzen", "fid", "kid", "is", "coverage")
# Metrics that can choose a checkpoint, and which way is better: the
# periodic scores of samples (logged as eval_<name>), and the error rates and
# bounds that models with held-out metrics log every epoch on the validation
# split (val_<name>), all of them lower-is-better.
BEST = {"parzen": max, "fid": min}
HELD_OUT_BEST = ("error", "cluster_error", "neg_elbo", "noisy_recon")


def best_log_key(metric: str) -> str:
    """The epoch log entry that ``--keep_best=<metric>`` reads."""
    return f"val_{metric}" if metric in HELD_OUT_BEST else f"eval_{metric}"


def better(metric: str):
    """max or min: which of two values of ``metric`` is the better one."""
    return BEST.get(metric, min)


def check_metrics(names, extra=()) -> list[str]:
    """The metric list of a flag (names or a comma-separated string), validated
    against METRICS and the caller's ``extra`` names."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    choices = METRICS + tuple(extra)
    unknown = [n for n in names if n not in choices]
    if not names or unknown:
        raise UserError(f"--metrics={','.join(names)!r}: choose from {', '.join(choices)}.")
    return list(names)
