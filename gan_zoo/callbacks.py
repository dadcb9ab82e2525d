"""Keras callbacks for monitoring and checkpointing a run."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import time

import keras
import numpy as np
import tensorflow as tf

from gan_zoo import checkpoints, metric_names, storage, visualization
from gan_zoo import pictures as drawn_pictures
from gan_zoo.errors import UserError


def _epoch_summaries(writer, epoch: int):
    """``writer`` as the default at step ``epoch + 1``, recording whatever Keras'
    TensorBoard callback says: at every call it opens a ``record_if`` that
    holds only when --log_every_steps divides the call's step, and leaves it
    open through the epoch's end, so every summary written there (its own
    epoch scalars included) was dropped unless the epoch ended on such a
    step; a DCGAN run with 390 steps per epoch lost all of them."""
    stack = contextlib.ExitStack()
    stack.enter_context(writer.as_default(step=epoch + 1))
    stack.enter_context(tf.summary.record_if(True))
    return stack


def cut_short(model) -> bool:
    """Whether the epoch that Keras is ending was stopped part-way.

    Keras calls ``on_epoch_end`` even when a signal stopped fit() mid-epoch
    (Checkpoint sets ``stop_training`` only then: Diverged raises instead).
    Such an epoch is neither sampled, scored, exported as the best nor
    logged: the resumed run does all of that when it finishes the epoch.
    """
    return bool(model.stop_training)


def log_run_settings(writer, trial_id: str, settings: dict, flagfile_text: str) -> None:
    """Writes a run's settings where TensorBoard shows them: every setting in
    the HParams dashboard (so runs of different flagfiles compare side by
    side, against their epoch scalars and final_* metrics), and the resolved
    flags as text. ``writer`` writes into the parent of the runs those
    scalars are in."""
    from tensorboard.plugins.hparams import api as hparams

    with writer.as_default():
        hparams.hparams(settings, trial_id=trial_id)
        # Markdown: a code block keeps one flag per line.
        tf.summary.text("flags", "```\n" + flagfile_text + "```", step=0)
        tf.summary.flush()


def log_final_metrics(writer, metrics: dict, step: int) -> None:
    """The run's last value of every metric as ``final_<name>``: the HParams
    dashboard's metric columns (``writer`` as for :func:`log_run_settings`)."""
    with writer.as_default():
        for name, value in metrics.items():
            tf.summary.scalar(f"final_{name}", value, step=step)
        tf.summary.flush()


class EpochPreview(keras.callbacks.Callback):
    """Every epoch: a sample grid from a fixed seed (PNG + TensorBoard), and the
    optimizers' current learning rates / momenta as scalars. At the end of
    training: samples/progress.gif, the grids of all epochs animated."""

    def __init__(self, workdir: str, writer, num: int, seed: int):
        super().__init__()
        self.directory = os.path.join(workdir, "samples")
        self.writer, self.num, self.seed = writer, num, seed

    def on_epoch_end(self, epoch, logs=None):
        if cut_short(self.model):
            return
        images = keras.ops.convert_to_numpy(self.model.preview(self.num, self.seed))
        grid = visualization.image_grid(images)
        visualization.save_png(
            grid, os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png"), scale=2
        )
        visualization.save_png(grid, os.path.join(self.directory, "latest.png"), scale=2)
        with _epoch_summaries(self.writer, epoch):
            tf.summary.image("samples", grid[None])
            for name, value in self.model.schedule_values().items():
                tf.summary.scalar(f"schedule/{name}", value)
        self.writer.flush()

    def on_train_end(self, logs=None):
        _animate_epochs(self.directory, os.path.join(self.directory, "progress.gif"))


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback with batch scalars on the training-step axis.

    Keras numbers them by calls of the training function counted from 0 in
    every ``fit``: a resumed run would write over its first steps, and with
    --steps_per_execution=N the axis would be in calls of N steps.
    """

    def on_train_batch_begin(self, batch, logs=None):
        # Keras adds 1 and logs the call under that number: the call's last step.
        self._global_train_batch = steps_done(self.model) + self.model.steps_per_execution - 1
        super().on_train_batch_begin(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if cut_short(self.model):
            return
        with tf.summary.record_if(True):  # see _epoch_summaries
            super().on_epoch_end(epoch, logs)
        # The writer flushes on its own only every 2 minutes or 10 events, and
        # a run stopped by SIGTERM or kill -9 never closes it: flush each epoch.
        for writer in self._writers.values():
            writer.flush()


class Throughput(keras.callbacks.Callback):
    """Training images per second, per epoch (excluding the first call of each
    fit, which includes tracing and compilation)."""

    def __init__(self, examples_per_step: int, writer):
        super().__init__()
        self.examples_per_step, self.writer = examples_per_step, writer
        self.history: list[float] = []

    def on_train_begin(self, logs=None):
        self._traced = False

    def on_epoch_begin(self, epoch, logs=None):
        self._steps = 0
        self._start, self._first = (time.perf_counter(), -1) if self._traced else (None, None)

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the index of the last step done: with
        # --steps_per_execution=N this is called once per N steps.
        if self._start is None:  # the fit's first call: tracing, not training
            self._start, self._first, self._traced = time.perf_counter(), batch, True
        else:
            self._steps = batch - self._first

    def on_epoch_end(self, epoch, logs=None):
        if self._start is None or self._steps == 0 or cut_short(self.model):
            return
        rate = self._steps * self.examples_per_step / (time.perf_counter() - self._start)
        self.history.append(rate)
        with _epoch_summaries(self.writer, epoch):
            tf.summary.scalar("throughput/images_per_second", rate)

    def median(self) -> float | None:
        return float(np.median(self.history)) if self.history else None


def steps_done(model) -> int:
    """Training steps the model has taken. Every model gives Keras the
    optimizer that steps once per ``train_step`` (the generator's, the
    autoencoder's), so its update count is the step count, restored with it."""
    return int(model.optimizer.iterations.numpy())


class Checkpoint(keras.callbacks.Callback):
    """Saves a tf.train checkpoint at the end of every epoch (recording the
    finished epochs) and every ``every_steps`` steps if > 0; checkpoints are
    numbered by step. After :meth:`request_stop` (a signal) it saves at the
    end of the current step and stops training there.

    tf.train.CheckpointManager writes a checkpoint's files before it points
    the ``checkpoint`` index at them (an atomic rename), so a process killed
    at any moment leaves the newest *complete* checkpoint as the one a re-run
    restores.
    """

    def __init__(
        self, manager: tf.train.CheckpointManager, epoch_counter: tf.Variable, every_steps: int = 0
    ):
        super().__init__()
        self.manager, self.epoch_counter, self.every_steps = manager, epoch_counter, every_steps
        self.stop_signal = None

    def request_stop(self, signum: int) -> None:
        self.stop_signal = signum

    def _save(self, step: int) -> None:
        try:
            self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as e:
            if not storage.out_of_space(e):
                raise
            # The killed save's partial files would keep the disk full.
            remove_unfinished_saves(self.manager)
            raise UserError(self._no_space_message(step)) from None

    def _no_space_message(self, step: int) -> str:
        latest = self.manager.latest_checkpoint
        # A checkpoint's data is its variables' bytes; the index adds a few KB.
        size = checkpoints.size_on_disk(latest) if latest else _variable_bytes(self.model)
        kept = f"the previous one, {latest}, is whole" if latest else "no checkpoint was written"
        return (
            f"no space left to write checkpoint ckpt-{step} in {self.manager.directory}: a "
            f"checkpoint of this run needs about {storage.size_text(size)} free there ({kept}). "
            "Free some space, or move the workdir, and run the same command to resume."
        )

    def on_train_begin(self, logs=None):
        self._last_step = steps_done(self.model)
        remove_unfinished_saves(self.manager)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_signal is None and not self.every_steps:
            return  # the common case: nothing to do per step, not even a read
        step = steps_done(self.model)
        # ``batch`` is the epoch's (this fit's) index of the call's last step.
        ends_epoch = batch + 1 == self.params["steps"]
        if self.stop_signal is not None:
            if ends_epoch:  # on_epoch_end will not save: count the epoch here
                self.epoch_counter.assign(self._epoch + 1)
            self._save(step)
            self.model.stop_training = True
        # Crossing a multiple, not landing on it: with --steps_per_execution
        # this runs only every that many steps. Not at an epoch's last step:
        # on_epoch_end saves that one, after the epoch's end-of-epoch work. A
        # checkpoint here let a run killed in between resume past an epoch
        # whose samples, logs and evaluation never happened, and with the
        # epoch uncounted: a last epoch ended "Done: 1 epochs" after 2.
        elif (
            self.every_steps
            and not ends_epoch
            and step // self.every_steps > self._last_step // self.every_steps
        ):
            self._save(step)
        self._last_step = step

    def on_epoch_end(self, epoch, logs=None):
        # Not stop_signal: a signal that arrives during the epoch's end (a long
        # evaluation) finds the epoch done, so it is saved as done; the next
        # step then saves again and stops.
        if cut_short(self.model):
            return  # stopped mid-epoch: the epoch is not done
        self.epoch_counter.assign(epoch + 1)
        self._save(steps_done(self.model))


def _variable_bytes(model) -> int:
    """Bytes of the model's variables and its optimizers' (what a checkpoint holds)."""
    variables = {id(v): v for v in model.variables}
    for item in model.checkpoint_items().values():
        variables.update({id(v): v for v in getattr(item, "variables", ())})
    return sum(np.asarray(v).nbytes for v in variables.values())


def remove_unfinished_saves(manager: tf.train.CheckpointManager) -> None:
    """Deletes what saves killed midway left in ``manager``'s directory.

    tf.train stages checkpoint N in ``ckpt-N_temp/`` (each file first as a
    ``*.tempstate<random>``), moves it to ``ckpt-N.index`` and ``.data-*``,
    then records it in ``checkpoint`` (via ``checkpoint.tmp<random>``). A
    kill leaves the staging directory and its partial files behind for good:
    a later save of N does not remove a directory that still holds a killed
    write's file, nothing reads them, and max_to_keep deletes only recorded
    checkpoints, so a run preempted during saves piled up partial copies of
    its weights (each up to a checkpoint's size). Files of a checkpoint newer
    than the newest recorded one are such leftovers too. Only one process
    trains in a workdir (its lock), so none of this is a save under way.
    """
    latest = manager.latest_checkpoint
    newest = int(latest.rsplit("-", 1)[1]) if latest else -1
    for entry in os.scandir(manager.directory) if os.path.isdir(manager.directory) else ():
        step = re.fullmatch(r"ckpt-(\d+)(_temp|\.index|\.data-\d+-of-\d+)", entry.name)
        if step and step.group(2) == "_temp" and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        elif (step and int(step.group(1)) > newest) or entry.name.startswith("checkpoint.tmp"):
            os.remove(entry.path)


@contextlib.contextmanager
def stop_on_signals(checkpoint: Checkpoint):
    """Within the block, SIGINT (Ctrl-C) and SIGTERM ask ``checkpoint`` to save
    and stop after the current step; a second Ctrl-C interrupts at once."""

    def handler(signum, frame):
        del frame
        checkpoint.request_stop(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class Diverged(Exception):
    """A training loss became NaN or infinite."""


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training the moment a logged loss or metric is not finite, before
    anything of that step is checkpointed or exported."""

    def on_train_batch_end(self, batch, logs=None):
        for name, value in (logs or {}).items():
            if isinstance(value, float) and not np.isfinite(value):
                step, per_call = steps_done(self.model), self.model.steps_per_execution
                where = (
                    f"at step {step}"
                    if per_call == 1
                    else f"in steps {step - per_call + 1}-{step} (one call)"
                )
                raise Diverged(f"training diverged {where}: {name} = {value}")


class EpochPictures(keras.callbacks.Callback):
    """Every epoch: the pictures of held-out data that the model draws
    (gan_zoo/pictures.py, {name: uint8 picture}), as PNG under
    ``pictures/<name>/`` and in TensorBoard; at the end, a GIF of each."""

    def __init__(self, workdir: str, writer, images, labels):
        super().__init__()
        self.directory = os.path.join(workdir, "pictures")
        self.writer, self.images, self.labels = writer, images, labels

    def on_epoch_end(self, epoch, logs=None):
        if cut_short(self.model):
            return
        pictures = drawn_pictures.for_model(self.model, self.images, self.labels)
        with _epoch_summaries(self.writer, epoch):
            for name, picture in pictures.items():
                visualization.save_png(
                    picture, os.path.join(self.directory, name, f"epoch_{epoch + 1:04d}.png")
                )
                tf.summary.image(name, picture[None])
        self.writer.flush()

    def on_train_end(self, logs=None):
        if not os.path.isdir(self.directory):
            return
        for name in sorted(os.listdir(self.directory)):
            if os.path.isdir(os.path.join(self.directory, name)):
                _animate_epochs(
                    os.path.join(self.directory, name), os.path.join(self.directory, f"{name}.gif")
                )


class HeldOutMetrics(keras.callbacks.Callback):
    """Every epoch: ``model.held_out_metrics(images, labels)`` (error rates and
    the like, {name: float}) added to the epoch's logs as ``<split>_<name>``
    (val_error, test_neg_elbo, ...), so TensorBoard, the progress bar, the
    History and summary.json carry them and say which data they measure."""

    def __init__(self, images, labels, split: str):
        super().__init__()
        self.images, self.labels = images, labels
        self.prefix = {"validation": "val"}.get(split, split)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and not cut_short(self.model):
            logs.update(
                {
                    f"{self.prefix}_{name}": value
                    for name, value in self.model.held_out_metrics(self.images, self.labels).items()
                }
            )


class PeriodicEvaluation(keras.callbacks.Callback):
    """Every ``every`` epochs: ``num`` images from ``model.preview`` scored by
    gan_zoo.evaluation.protocol against held-out ``real`` sets
    (protocol.validation_sets), added to the epoch's logs as eval_<metric>.

    Samples of a model that works at another size than the data (a 32 px
    DCGAN of 28 px digits) are brought back to ``data_shape`` first. With
    ``batch_stats`` (the training batch size), samples drawn with BatchNorm's
    batch statistics are scored too, as eval_<metric>_batch_stats.
    """

    def __init__(
        self,
        every: int,
        num: int,
        real: dict,
        metrics,
        extractor,
        seed: int,
        data_shape,
        batch_stats: int = 0,
    ):
        super().__init__()
        self.every, self.num, self.real = every, num, real
        self.metrics, self.extractor, self.seed = metrics, extractor, seed
        self.data_shape, self.batch_stats = tuple(data_shape), batch_stats
        self.reference = None  # the held-out set's features, computed once

    def _score(self, draw) -> dict:
        from gan_zoo.datasets.pipeline import to_data_size
        from gan_zoo.evaluation import protocol

        # Seeds apart from the preview grid's, one per chunk.
        samples = protocol.draw_in_chunks(
            lambda n, i: to_data_size(draw(n, self.seed + 7919 * (i + 1)), self.data_shape).numpy(),
            self.num,
        )
        if self.reference is None:
            self.reference = protocol.reference_features(self.real, self.metrics, self.extractor)
        result = protocol.evaluate(
            samples, self.real, self.metrics, self.extractor, reference=self.reference
        )
        return protocol.scalars(result["samples"])

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every or cut_short(self.model):
            return
        logs.update({f"eval_{k}": v for k, v in self._score(self.model.preview).items()})
        if self.batch_stats:
            scores = self._score(
                lambda n, seed: self.model.preview_with_batch_stats(n, seed, self.batch_stats)
            )
            logs.update({f"eval_{k}_batch_stats": v for k, v in scores.items()})


class KeepBest(keras.callbacks.Callback):
    """Exports the model whenever an epoch's score of ``metric`` beats every
    earlier one, and records it in ``<directory>/best.json``.

    Args:
      metric: a key of metric_names.BEST (read from the logs as eval_<metric>) or
        a name in metric_names.HELD_OUT_BEST (read as val_<metric>).
      directory: where the export goes (the record sits beside it).
      export: callable(directory) that writes the model's export there.
    """

    def __init__(self, metric: str, directory: str, export):
        super().__init__()
        self.metric, self.better = metric, metric_names.better(metric)
        self.key = metric_names.best_log_key(metric)
        self.directory, self.export = directory, export
        self.record_path = os.path.join(os.path.dirname(directory), "best.json")
        self.best = None
        if os.path.isfile(self.record_path):  # a resumed run keeps its best so far
            with open(self.record_path) as f:
                self.best = json.load(f)["value"]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.key)
        if value is None or not np.isfinite(value):
            return
        if self.best is not None and self.better(value, self.best) == self.best:
            return
        self.best = float(value)
        self.export(self.directory)
        record = {"epoch": epoch + 1, "metric": self.metric, "value": self.best}
        storage.write_text(
            self.record_path, json.dumps({**record, "export": self.directory}, indent=2)
        )


def _animate_epochs(directory: str, gif_path: str) -> None:
    """The epoch_*.png pictures of ``directory``, in order, as a GIF (if more than one)."""
    frames = sorted(glob.glob(os.path.join(directory, "epoch_*.png")))
    if len(frames) > 1:
        visualization.save_gif(frames, gif_path)
