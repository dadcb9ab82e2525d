"""How a training step executes: the tf.distribute strategy and this process's
role in it, the compute dtype, XLA, and steps per call into TensorFlow.

Nothing here changes what a step computes (up to floating-point rounding);
every choice is a flag (--strategy, --mixed_precision, --jit_compile,
--steps_per_execution, --run_eagerly) resolved once, here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re

import keras
import tensorflow as tf
from absl import logging

from gan_zoo.errors import UserError

# --jit_compile=auto and --steps_per_execution=0 resolve per device kind to
# what benchmarks/throughput.py measured fastest on this project's CPU
# (README, "Speed", has the numbers): no XLA, and 10 steps per call. On a GPU:
# XLA as Keras enables it by default, and 10 steps per call to amortise the
# per-call overhead that dominates small steps there; not measured here.
AUTO = {
    "CPU": {"jit_compile": False, "steps_per_execution": 10},
    "GPU": {"jit_compile": True, "steps_per_execution": 10},
}


def device_kind() -> str:
    """``GPU`` if TensorFlow sees one, else ``CPU``."""
    return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


def configure(model: keras.Model, config) -> keras.Model:
    """Sets the compiled ``model``'s XLA and steps-per-execution from ``config``
    (before its first fit, which traces the training function)."""
    kind = device_kind()
    auto = AUTO[kind]
    if config.mixed_precision == "mixed_float16" and kind == "CPU":
        logging.warning(
            "--mixed_precision=mixed_float16 on a CPU runs float16 without fast "
            'kernels (README, "Speed": many times slower than float32); '
            "mixed_bfloat16 is the fast choice here."
        )
    jit = {"true": True, "false": False}.get(config.jit_compile, auto["jit_compile"])
    if jit and tf.distribute.has_strategy() and config.jit_compile == "auto":
        jit = False  # Keras' choice too: XLA under tf.distribute is opt-in
    model.run_eagerly = config.run_eagerly
    model.jit_compile = jit and not config.run_eagerly  # config refuses an explicit pair
    per_call = config.steps_per_execution or auto["steps_per_execution"]
    if tf.distribute.has_strategy() and per_call > 1:
        # Keras 3.15 cannot run several steps per call under a strategy: the
        # call fails with "You must feed a value for placeholder tensor
        # 'while/cond/Placeholder'" (tested with MirroredStrategy and MWMS).
        if config.steps_per_execution > 1:
            raise UserError(
                f"--steps_per_execution={config.steps_per_execution} cannot be used "
                f"under a tf.distribute strategy (a Keras 3.15 bug); leave it at 0."
            )
        per_call = 1
    model.steps_per_execution = per_call
    return model


def fit_calls_to_epoch(model: keras.Model, requested: int, steps: int) -> None:
    """Sets ``model.steps_per_execution`` to the largest divisor of an epoch's
    ``steps`` not above ``requested``: Keras 3.15 runs whole calls, so a call
    straddling the epoch's end would take steps from the next one, and every
    count that depends on epochs (checkpoints, resumption) would drift."""
    per_call = max(d for d in range(1, min(requested, steps) + 1) if steps % d == 0)
    if per_call != model.steps_per_execution:
        model.steps_per_execution = per_call
        model.train_function = None  # traced for the old count


@contextlib.contextmanager
def dtype_policy(name: str):
    """Layers built inside compute in ``name`` (``float32``, ``mixed_bfloat16``,
    ``mixed_float16``); the global Keras policy is restored on exit, so the
    setting stays with the models built here."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def strategy_for(config) -> tf.distribute.Strategy:
    """The tf.distribute strategy ``--strategy`` names; ``default`` is whatever
    scope the caller is in (none: one device)."""
    if config.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.strategy == "multi_worker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if config.strategy == "tpu":
        return _tpu_strategy(config.tpu)
    return tf.distribute.get_strategy()


def _check_tf_config() -> None:
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        raise UserError(
            "--strategy=multi_worker takes the cluster from the TF_CONFIG environment "
            "variable, which is not set; see the README section 'Several GPUs, "
            "machines and TPUs'."
        )
    try:
        spec = json.loads(text)
        task = spec["task"]
        workers = spec["cluster"][task["type"]]
        if not 0 <= int(task["index"]) < len(workers):
            raise IndexError(task["index"])
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise UserError(
            f"TF_CONFIG is not a cluster this process is in ({type(e).__name__}: "
            f'{e}); it needs {{"cluster": {{"worker": ["host:port", ...]}}, '
            '"task": {"type": "worker", "index": i}}.'
        ) from None


def _tpu_strategy(address: str) -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        where = f"at {address!r}" if address else "on this machine"
        raise UserError(
            f"--strategy=tpu found no TPU {where} ({str(e).splitlines()[0][:100]}); "
            "pass --tpu=<name or grpc://address>, or another --strategy."
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def lost_task_message(error: BaseException) -> str | None:
    """One line for a multi-worker job that lost one of its processes, if
    ``error`` is how TensorFlow reported that (None for any other error).

    MultiWorkerMirroredStrategy's coordination service notices a dead worker
    within 10 s (no heartbeat) and aborts every collective of every other
    worker with UnavailableError, as it does when a peer's connection resets;
    the job can neither go on without that worker nor take a restarted one
    back (the service refuses a task that restarted, or that it marked
    failed), so every worker must be started again; they resume from the
    chief's checkpoint. A worker that is restarted before its heartbeats are
    missed is reported instead as an AbortedError about its "different
    incarnation".
    """
    text = str(error)
    restarted = isinstance(error, tf.errors.AbortedError) and "different incarnation" in text
    if not (restarted or isinstance(error, tf.errors.UnavailableError)):
        return None
    tasks = set(re.findall(r"/job:(\w+)/replica:\d+/task:(\d+)", text))
    try:
        own = json.loads(os.environ.get("TF_CONFIG", ""))["task"]
        tasks.discard((own["type"], str(own["index"])))
    except (ValueError, KeyError, TypeError):
        pass
    if not tasks:  # not a cluster peer's failure
        return None
    names = " and ".join(f"{job} {index}" for job, index in sorted(tasks))
    how = (
        "restarted"
        if restarted
        else "stopped sending heartbeats"
        if "heartbeat" in text
        else "could no longer be reached"
    )
    return (
        f"{names} of the multi-worker job {how}, and the job cannot go on without it or "
        "take a restarted one back: run the same command again on every worker, this one "
        "included; they resume from the chief's newest checkpoint."
    )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's outputs: always, except under a
    multi-worker strategy, where only the chief does (the task named
    ``chief``, or worker 0 in a cluster without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )
