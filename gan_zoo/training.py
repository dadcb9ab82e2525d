"""The training driver: data, model, checkpoints, monitoring, fit, export.

Nothing here is specific to a model; models provide the hooks listed in
gan_zoo/models/__init__.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import tempfile

import keras
import tensorflow as tf

from gan_zoo import (
    callbacks,
    checkpoints,
    config,
    execution,
    export,
    metric_names,
    registry,
    storage,
    workdir_lock,
)
from gan_zoo.config import Config
from gan_zoo.datasets import pipeline
from gan_zoo.errors import Interrupted, UserError


@dataclasses.dataclass
class Run:
    """What a finished run leaves behind."""

    config: Config
    model: keras.Model
    epochs_done: int
    history: dict
    images_per_second: float | None
    export_dir: str | None


def _prepare(cfg: Config, resume_from: str | None = ""):
    """Loads data, builds the compiled model and its checkpoint manager, and
    restores the newest checkpoint in the workdir if there is one.

    Args:
      cfg: the run's Config; checkpoints are written under its workdir.
      resume_from: the run directory whose newest checkpoint to restore ('' =
        cfg.workdir, None = none): a multi-worker run's workers write into
        scratch directories but resume from the chief's checkpoint.

    Returns:
      (source, model, make_dataset, steps per epoch, examples per step,
       checkpoint manager, epochs-done counter); ``make_dataset(n)`` is the
      training stream started n steps in.
    """
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    source = registry.dataset_loader(cfg.dataset)(cfg.run)
    model_cls = registry.model_class(cfg.model)
    _check_keep_best(cfg, source)
    per_step = model_cls.examples_per_step(cfg)
    image_shape = model_cls.image_shape(cfg, source)

    def stream(skip_batches: int = 0):
        return pipeline.training_dataset(
            source,
            "train",
            per_step,
            model_cls.output_range,
            cfg.seed,
            image_shape=image_shape,
            max_examples=cfg.max_examples,
            skip_batches=skip_batches,
        )

    def make_dataset(skip_batches: int):
        dataset = stream(skip_batches)[0]
        if model_cls.can("labelled_subset"):
            dataset = pipeline.with_labelled_stream(
                dataset,
                source,
                model_cls.labelled_subset(cfg),
                cfg.batch_size,
                model_cls.output_range,
                cfg.seed,
                image_shape,
                cfg.max_examples,
                skip_batches,
            ).prefetch(tf.data.AUTOTUNE)
        # Every worker of a multi-worker run builds the same (seeded) stream
        # and takes its share of each global batch; the default would look
        # for files to split between workers, and warn when there are none.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return dataset.with_options(options)

    # Not make_dataset: the labelled stream reads every training label to pick its subset.
    steps = stream()[1]
    if cfg.steps_per_epoch:
        steps = min(steps, cfg.steps_per_epoch)
    strategy = tf.distribute.get_strategy()
    with strategy.scope(), execution.dtype_policy(cfg.mixed_precision):
        model = execution.configure(model_cls.from_flags(cfg, source, steps), cfg)
        epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
    # Keras 3 models do not expose their layers' variables to tf.train's
    # object graph (a Checkpoint(model=...) silently saves no weights), so the
    # checkpoint lists them explicitly, in the model's deterministic order:
    # weights, BatchNorm statistics and every SeedGenerator's state.
    checkpoint = tf.train.Checkpoint(
        variables=list(model.variables), epochs_done=epochs_done, **model.checkpoint_items()
    )
    # Chosen (and damaged ones moved aside) before the manager reads the
    # state file, which the choice may rewrite.
    latest = (
        None
        if resume_from is None
        else checkpoints.newest_whole(
            os.path.join(resume_from or cfg.workdir, "checkpoints"), repair=not resume_from
        )
    )
    manager = tf.train.CheckpointManager(
        checkpoint, os.path.join(cfg.workdir, "checkpoints"), max_to_keep=cfg.keep_checkpoints
    )
    if latest:
        try:
            checkpoint.restore(latest).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            raise UserError(
                f"the checkpoint {latest} does not fit this model and these "
                f"flags ({str(e).splitlines()[0][:120]}); pass a new --workdir, or the flags "
                "of the run that wrote it (--flagfile=<workdir>/flags.txt)."
            ) from None
    return source, model, make_dataset, steps, per_step, manager, epochs_done


def _check_keep_best(cfg: Config, source) -> None:
    """A --keep_best by a held-out metric (which the model measures:
    registry.resolve checks that) needs a validation split to measure it on:
    choosing by the test split would make the test score an optimistic one."""
    if cfg.keep_best not in metric_names.HELD_OUT_BEST:
        return
    if pipeline.held_out_split(source) != "validation":
        raise UserError(
            f"--keep_best={cfg.keep_best} chooses an epoch on validation data, and "
            f"--dataset={cfg.dataset} has no validation split here; for MNIST add "
            "--paper_split=true."
        )


def _periodic_evaluation(cfg: Config, source, model):
    from gan_zoo.evaluation import protocol

    extractor = protocol.extractor_for(
        cfg.eval_metrics,
        cfg.eval_features or protocol.default_extractor(source.image_shape),
        cfg.inception_weights or None,
    )
    return callbacks.PeriodicEvaluation(
        cfg.eval_every_epochs,
        cfg.eval_samples,
        protocol.validation_sets(source),
        cfg.eval_metrics,
        extractor,
        cfg.seed,
        source.image_shape,
        batch_stats=cfg.batch_size if cfg.eval_batch_stats else 0,
    )


# Everything a run writes into its workdir (and nothing else there is ours to delete).
OUTPUTS = (
    "checkpoints",
    "logs",
    "samples",
    "pictures",
    "export",
    "flags.txt",
    "summary.json",
    "evaluation.json",
    "best_export",
    "best.json",
)


def check_workdir(cfg: Config, overwrite: bool = False) -> None:
    """Refuses to mix two experiments in one workdir.

    A workdir whose saved flags differ from ``cfg`` (other than settings a
    resumed run may change, config.RESUMABLE) raises UserError naming the
    differences; with ``overwrite`` the old run's outputs are deleted instead
    and training starts afresh. Files that are not a run's outputs are kept.
    """
    saved_path = os.path.join(cfg.workdir, "flags.txt")
    if overwrite:
        for name in OUTPUTS:
            for suffix in ("", storage.STAGING, storage.PREVIOUS):
                path = os.path.join(cfg.workdir, name + suffix)
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.exists(path):
                    os.remove(path)
        return
    recover_outputs(cfg.workdir)
    if not os.path.isfile(saved_path):
        return
    with open(saved_path) as f:
        changed = config.differences(registry.parse_flagfile(f.read(), saved_path), cfg)
    if changed:
        shown = "; ".join(changed[:4]) + (
            f"; and {len(changed) - 4} more" if len(changed) > 4 else ""
        )
        raise UserError(
            f"{cfg.workdir} holds a run with other settings: {shown}. Resume it with "
            f"--flagfile={saved_path}, choose a new --workdir, or pass --overwrite "
            "to delete that run's outputs and start afresh."
        )


def export_model(cfg: Config, model, directory: str | None = None) -> str:
    """Writes ``directory`` (default ``<workdir>/export``) from ``model``."""
    metadata = {
        "model": cfg.model,
        "config": cfg.settings(),
        "output_range": list(model.output_range),
    }
    return export.export(model, directory or os.path.join(cfg.workdir, "export"), metadata)


def write_flagfile(cfg: Config) -> str:
    return storage.write_text(os.path.join(cfg.workdir, "flags.txt"), cfg.to_flagfile())


# The outputs written through a staging name (gan_zoo/storage.py): what a
# kill can leave half-written beside them.
STAGED_FILES = ("flags.txt", "summary.json", "best.json")
STAGED_DIRECTORIES = ("export", "best_export")


def recover_outputs(workdir: str) -> None:
    """Puts back, or drops, what a run killed while writing an output left."""
    for name in STAGED_FILES:
        storage.recover_file(os.path.join(workdir, name))
    for name in STAGED_DIRECTORIES:
        storage.recover_directory(os.path.join(workdir, name))


def make_workdir(workdir: str) -> str | None:
    """Creates ``workdir`` and any missing parents; returns the topmost
    directory it created (None if ``workdir`` existed)."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise UserError(
            f"--workdir={workdir} is a file, not a directory; choose another --workdir."
        )
    top, parent = None, os.path.abspath(workdir)
    while not os.path.exists(parent):
        top, parent = parent, os.path.dirname(parent)
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create --workdir={workdir} ({e.strerror}); choose a directory "
            "you can write to."
        ) from None
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise UserError(
            f"--workdir={workdir} is not writable; choose a directory you can write to."
        )
    return top


def remove_empty_dirs(workdir: str, top: str | None) -> None:
    """Removes ``workdir`` and its parents up to ``top`` (from make_workdir)
    while they are empty."""
    if top is None:
        return
    path = os.path.abspath(workdir)
    while True:
        try:
            os.rmdir(path)
        except OSError:  # not empty (or gone): it holds something, leave it
            return
        if path == top:
            return
        path = os.path.dirname(path)


def run(cfg: Config, verbose="auto", overwrite: bool = False) -> Run:
    """Trains ``cfg.model`` on ``cfg.dataset`` into ``cfg.workdir``, resuming
    from the newest checkpoint there, and exports the result.

    Args:
      cfg: the resolved Config.
      verbose: Keras progress-bar verbosity.
      overwrite: delete a previous run's outputs in the workdir first, instead
        of resuming it (see :func:`check_workdir`).

    Returns:
      A :class:`Run` describing the finished run.
    """
    if cfg.export_onnx:  # a missing extra must not cost a whole run
        # Imported only when asked for, so that a process that imported this
        # module can still run `python -m gan_zoo.onnx_export` (runpy warns).
        from gan_zoo import onnx_export

        onnx_export.require("--export_onnx", cfg.mixed_precision)
    strategy = execution.strategy_for(cfg)
    if execution.is_chief(strategy):
        created = make_workdir(cfg.workdir)
        try:
            # Locked before the settings check: --overwrite must not delete a
            # live run's outputs.
            with workdir_lock.hold(cfg.workdir):
                check_workdir(cfg, overwrite)
                with strategy.scope():
                    result = _train(cfg, verbose)
                if cfg.export_onnx:
                    onnx_export.convert_export(result.export_dir)
                return result
        except BaseException as e:
            # A run refused before it wrote anything (too few examples for a
            # batch, no data, a live run in the workdir) leaves no trace; a
            # resumed run's directory and anything already written stay.
            remove_empty_dirs(cfg.workdir, created)
            if isinstance(e, UserError) or not storage.out_of_space(e):
                raise
            raise UserError(no_space_message(cfg.workdir, e)) from None
    # A multi-worker run's other workers take part in every step, checkpoint
    # and export (saving may need their collectives) but write into a scratch
    # directory, deleted afterwards; they resume from the chief's checkpoint,
    # so the workdir must be on storage every worker can read. They take no
    # lock: the chief's stands for the whole run.
    scratch = tempfile.mkdtemp(prefix="gan_zoo_worker_")
    try:
        with strategy.scope():
            return _train(
                cfg.replace(workdir=scratch),
                verbose,
                resume_from=None if overwrite else cfg.workdir,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def no_space_message(workdir: str, error: BaseException) -> str:
    """The line for a disk that filled while a run wrote its logs, pictures
    or export (a checkpoint's own has its size: callbacks.Checkpoint): every
    output is written whole or not at all, so what is there is still good."""
    newest = checkpoints.newest_whole(os.path.join(workdir, "checkpoints"), repair=False)
    kept = f"checkpoint {newest} is whole" if newest else "no checkpoint was written yet"
    return storage.no_space_message(
        error,
        f"{kept}, and every other output of {workdir} is its old version or absent. Free some "
        "space, or move the workdir, and run the same command to resume.",
    )


def _train(cfg: Config, verbose, resume_from: str | None = "") -> Run:
    source, model, make_dataset, steps, per_step, manager, epochs_done = _prepare(cfg, resume_from)
    write_flagfile(cfg)
    # The restored step count says where the run stopped, mid-epoch or not.
    done = callbacks.steps_done(model)
    initial_epoch, into_epoch = divmod(done, steps)
    if done:
        where = os.path.join(resume_from or cfg.workdir, "checkpoints")
        print(
            f"Resuming from {where} (step {done}, "
            f"{initial_epoch} epochs and {into_epoch} steps done)."
        )
    # One writer for the run's own record, in logs/ above Keras' train/ and our images/.
    run_writer = tf.summary.create_file_writer(os.path.join(cfg.workdir, "logs"))
    callbacks.log_run_settings(
        run_writer,
        os.path.basename(os.path.abspath(cfg.workdir)),
        cfg.settings(),
        cfg.to_flagfile(),
    )
    writer = tf.summary.create_file_writer(os.path.join(cfg.workdir, "logs", "images"))
    throughput = callbacks.Throughput(per_step, writer)
    checkpointer = callbacks.Checkpoint(manager, epochs_done, cfg.checkpoint_every_steps)
    cbs = [
        callbacks.TensorBoard(
            os.path.join(cfg.workdir, "logs"), write_graph=False, update_freq=cfg.log_every_steps
        ),
        callbacks.EpochPreview(cfg.workdir, writer, cfg.num_samples, cfg.seed),
        throughput,
        checkpointer,
    ]
    # Held-out data is loaded only for models that use it: pictures need a
    # sample; error rates are measured on up to 10,000 examples of the
    # validation split (the test split where there is none).
    metrics, pictures = model.can("held_out_metrics"), bool(model.draws)
    if metrics or pictures:
        held_out = pipeline.held_out(
            source, 10000 if metrics else 2000, model.output_range, model.image_shape(cfg, source)
        )
    if pictures:
        cbs.insert(2, callbacks.EpochPictures(cfg.workdir, writer, *held_out))
    # Callbacks run in list order: the scores first (so that TensorBoard,
    # History and the progress bar all see them), then KeepBest, which reads them.
    if cfg.keep_best:
        cbs.insert(
            0,
            callbacks.KeepBest(
                cfg.keep_best,
                os.path.join(cfg.workdir, "best_export"),
                lambda directory: export_model(cfg, model, directory),
            ),
        )
    if metrics:
        cbs.insert(0, callbacks.HeldOutMetrics(*held_out, pipeline.held_out_split(source)))
    if cfg.eval_every_epochs:
        cbs.insert(0, _periodic_evaluation(cfg, source, model))
    if model.can("training_callbacks"):
        cbs.extend(model.training_callbacks())
    # First of all: a non-finite loss stops the step before anything saves it.
    cbs.insert(0, callbacks.DivergenceGuard())
    history = {}

    per_call = model.steps_per_execution

    def fit(first_epoch, last_epoch, steps_in_epoch):
        execution.fit_calls_to_epoch(model, per_call, steps_in_epoch)
        # The stream restarts exactly where the uninterrupted run would be.
        result = model.fit(
            make_dataset(first_epoch * steps + steps - steps_in_epoch),
            epochs=last_epoch,
            initial_epoch=first_epoch,
            steps_per_epoch=steps_in_epoch,
            callbacks=cbs,
            verbose=verbose,
            shuffle=False,
        )  # the pipeline shuffles
        for key, values in result.history.items():
            history.setdefault(key, []).extend(values)

    try:
        with callbacks.stop_on_signals(checkpointer):
            if into_epoch and initial_epoch < cfg.epochs:
                fit(initial_epoch, initial_epoch + 1, steps - into_epoch)  # finish the epoch
                initial_epoch += 1
            if initial_epoch < cfg.epochs and checkpointer.stop_signal is None:
                fit(initial_epoch, cfg.epochs, steps)
    except callbacks.Diverged as e:
        raise UserError(
            f"{e}. Nothing of it was saved: the last good checkpoint "
            f"({manager.latest_checkpoint or 'none yet'}) and any export are untouched. Lower "
            "the learning rates and train again with --overwrite or in a new --workdir."
        ) from None
    if checkpointer.stop_signal is not None:
        raise Interrupted(
            f"Stopped by {signal.Signals(checkpointer.stop_signal).name} after step "
            f"{callbacks.steps_done(model)}; "
            f"checkpoint {manager.latest_checkpoint} written. Run the same command to resume.",
            checkpointer.stop_signal,
        )
    export_dir = export_model(cfg, model) if cfg.export else None
    summary = {
        "epochs_done": int(epochs_done.numpy()),
        "steps_per_epoch": steps,
        "images_per_second": throughput.median(),
        "export": export_dir,
        "final_metrics": {k: float(v[-1]) for k, v in history.items()},
    }
    storage.write_text(os.path.join(cfg.workdir, "summary.json"), json.dumps(summary, indent=2))
    callbacks.log_final_metrics(run_writer, summary["final_metrics"], callbacks.steps_done(model))
    exported = f"export at {export_dir}" if export_dir else "no export (--noexport)"
    print(f"Done: {summary['epochs_done']} epochs in {cfg.workdir}; {exported}.")
    return Run(cfg, model, int(epochs_done.numpy()), history, throughput.median(), export_dir)


def export_only(cfg: Config) -> str:
    """Restores the newest checkpoint in ``cfg.workdir`` and writes the export
    (and its ONNX files, with ``cfg.export_onnx``)."""
    if cfg.export_onnx:
        from gan_zoo import onnx_export

        onnx_export.require("--export_onnx", cfg.mixed_precision)
    checkpoint_dir = os.path.join(cfg.workdir, "checkpoints")
    missing = UserError(f"no checkpoint in {checkpoint_dir} to export; train first.")
    if not os.path.isdir(checkpoint_dir):
        raise missing
    with workdir_lock.hold(cfg.workdir):
        check_workdir(cfg)
        if not checkpoints.newest_whole(checkpoint_dir):
            raise missing
        model = _prepare(cfg)[1]
        directory = export_model(cfg, model)
        if cfg.export_onnx:
            onnx_export.convert_export(directory)
        return directory
