"""Per-epoch curves of finished or running runs, from their TensorBoard logs,
as one picture: one panel per metric, one line per run.

    python -m gan_zoo.curves --runs=algorithm1=runs/gan_a,simultaneous=runs/gan_s \
        --metrics=eval_parzen,eval_fid --out=docs/images/gan_parzen_curves.png

A metric is an epoch-level name as Keras logs it (``eval_parzen``,
``eval_fid_batch_stats``, ``d_loss``, ...); epochs count from 1.
"""

from __future__ import annotations

import glob
import os

from absl import flags

from gan_zoo import cli
from gan_zoo.errors import UserError

flags.DEFINE_string("runs", None, "Comma-separated label=workdir pairs (or bare workdirs).")
flags.DEFINE_string("metrics", "eval_fid", "Comma-separated epoch metrics, one panel each.")
flags.DEFINE_string("out", "curves.png", "Where to write the PNG.")
flags.DEFINE_string("title", "", "Title over the panels.")
FLAGS = flags.FLAGS


def epoch_scalars(workdir: str) -> dict[str, dict[int, float]]:
    """{metric: {epoch (from 1): value}} from the events in ``<workdir>/logs/train``
    and ``logs/validation`` (where Keras' TensorBoard callback files the
    ``val_`` metrics, without that prefix: they get it back here); a resumed
    run's later value for an epoch wins."""
    import tensorflow as tf

    def files(part):
        return sorted(glob.glob(os.path.join(workdir, "logs", part, "events.out.tfevents.*")))

    if not files("train"):
        raise UserError(f"{workdir} has no TensorBoard logs (logs/train); is it a run directory?")
    series: dict[str, dict[int, float]] = {}
    for part, prefix in (("train", ""), ("validation", "val_")):
        for path in files(part):
            for record in tf.data.TFRecordDataset(path):
                event = tf.compat.v1.Event.FromString(record.numpy())
                for value in event.summary.value:
                    if value.tag.startswith("epoch_"):
                        number = (
                            float(tf.make_ndarray(value.tensor))
                            if value.HasField("tensor")
                            else value.simple_value
                        )
                        name = prefix + value.tag[len("epoch_") :]
                        series.setdefault(name, {})[event.step + 1] = number
    return series


def plot(runs: dict[str, dict[str, dict[int, float]]], metrics, path: str, title: str = ""):
    """Writes the panels of ``metrics`` for ``runs`` ({label: epoch_scalars(...)})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, series in runs.items():
            points = sorted(series.get(metric, {}).items())
            if points:
                ax.plot(*zip(*points), marker=".", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def check_settings() -> tuple[dict[str, str], list[str]]:
    """Validates the flags; returns the runs (label -> workdir) and the metrics."""
    if not FLAGS.runs:
        raise UserError("pass --runs=label=workdir[,label=workdir...].")
    workdirs = {}
    for item in FLAGS.runs.split(","):
        label, _, workdir = item.rpartition("=")
        workdirs[label or os.path.basename(os.path.normpath(workdir))] = workdir
    metrics = [m.strip() for m in FLAGS.metrics.split(",") if m.strip()]
    if not metrics:
        raise UserError("pass --metrics=name[,name...], e.g. eval_fid.")
    return workdirs, metrics


def main(argv):
    del argv
    workdirs, metrics = check_settings()
    runs = {label: epoch_scalars(workdir) for label, workdir in workdirs.items()}
    missing = [m for m in metrics if not any(m in series for series in runs.values())]
    if missing:
        known = sorted({m for series in runs.values() for m in series})
        raise UserError(f"no run logged {', '.join(missing)}; logged: {', '.join(known)}.")
    plot(runs, metrics, FLAGS.out, FLAGS.title)
    print(f"Wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main, check=check_settings)
