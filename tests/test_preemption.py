"""SIGKILL at random moments, checkpoint writes included: every rerun of the
same command resumes, and a --deterministic run ends with the weights of an
uninterrupted one.

One GAN-family model (gan) and one AE-family model (vae) are each killed
GAN_ZOO_KILLS times, default 3, and after every kill the same train.py
command runs again; then one more run finishes the job, and its final
checkpoint must equal that of a run never killed. The full test is

    GAN_ZOO_KILLS=20 pytest tests/test_preemption.py -n 0 -s

(-n 0 -s shows a line per kill: where it was aimed, the checkpoint before
and after, what it interrupted; a failure shows them anyway). The command lines run as forks of
tests/forkserver.py, so no process pays for importing TensorFlow.

Where the kills land. By progress, not wall time: a process killed before
it has restored cannot have written a checkpoint, and how long it takes to
get there varies with the machine's load. Of N kills, about a third (at
least one) are aimed at a checkpoint write: the process is killed as soon as
a save's data file appears in TF's ``ckpt-N_temp/`` staging directory. Kill
i of the n random and aimed ones waits for a random step in the i-th n-th of
the run; a random one then lands at a random phase of that step. With
N >= 2 one kill lands at the last epoch's end, after its sample grid and
before its checkpoint; with N >= 4 one more lands while the export is
written (into ``export.partial``, renamed when complete). After each kill,
what the process left behind says whether it really interrupted a write.

The draw is seeded: GAN_ZOO_KILL_SEED=<n> replays one (the seed is in every
failure message), though where a kill lands still depends on the machine's
load.
"""

import concurrent.futures
import json
import math
import os
import random
import re
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_script, run_scripts, start_script

KILLS = int(os.environ.get("GAN_ZOO_KILLS", "3"))
SEED = int(os.environ.get("GAN_ZOO_KILL_SEED") or random.SystemRandom().randrange(2**31))
STEPS_PER_EPOCH = 4
# Three steps per kill, so that the kills spread over the whole run.
EPOCHS = max(3, math.ceil(3 * (KILLS + 1) / STEPS_PER_EPOCH))
# Every step checkpoints (one step per call into TF, or Keras would run 4 at
# once), so checkpoint writes take a large share of each process's training
# time. The GAN's fixed maxout networks make a 30 MB checkpoint; the VAE's
# default 500 hidden units a 9 MB one (Adam's slots included).
COMMON = dict(
    epochs=EPOCHS,
    steps_per_epoch=STEPS_PER_EPOCH,
    batch_size=8,
    num_samples=4,
    checkpoint_every_steps=1,
    steps_per_execution=1,
    deterministic=True,
    seed=5,
)
MODELS = {"gan": dict(COMMON, model="gan"), "vae": dict(COMMON, model="vae", latent_dim=2)}
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
TIMEOUT = 300  # for any one process; a hang fails instead of blocking the suite


def _argv(settings, workdir):
    args = [f"--workdir={workdir}"]
    for name, value in settings.items():
        args.append(
            f"--{name}"
            if value is True
            else f"--no{name}"
            if value is False
            else f"--{name}={value}"
        )
    return ["train.py", *args]


def latest_step(checkpoints):
    """The step of the checkpoint the ``checkpoint`` index names (None: no
    index yet). TF replaces the index by a rename, so it is never half-read."""
    try:
        with open(os.path.join(checkpoints, "checkpoint")) as f:
            first = f.readline()
    except FileNotFoundError:
        return None
    return int(re.fullmatch(r'model_checkpoint_path: "ckpt-(\d+)"\n?', first).group(1))


def write_traces(checkpoints):
    """{file: mtime} of what a checkpoint write under way has in
    ``checkpoints``: tf.train writes ``ckpt-N_temp/`` (each file first as a
    ``*.tempstate<random>``, then renamed), moves its files to
    ``ckpt-N.index`` and ``ckpt-N.data-*``, then writes
    ``checkpoint.tmp<random>`` and renames it to ``checkpoint``. Files of a
    step past the index's are a write not yet recorded. Files only: a
    directory's mtime also moves when a later save reuses it."""
    latest = latest_step(checkpoints)
    traces = {}

    def add(entry, name):
        try:
            traces[name] = entry.stat(follow_symlinks=False).st_mtime_ns
        except FileNotFoundError:  # the writer moved on while we looked
            pass

    try:
        entries = list(os.scandir(checkpoints))
    except FileNotFoundError:
        return traces
    for entry in entries:
        step = re.match(r"ckpt-(\d+)", entry.name)
        if entry.name.endswith("_temp"):
            try:
                for inner in os.scandir(entry.path):
                    add(inner, f"{entry.name}/{inner.name}")
            except (FileNotFoundError, NotADirectoryError):
                pass
        elif entry.name.startswith("checkpoint.tmp"):
            add(entry, entry.name)
        elif step and (latest is None or int(step.group(1)) > latest):
            add(entry, entry.name)
    return traces


def fresh_traces(checkpoints, before):
    """The traces a process made since ``before``: what a killed predecessor
    left keeps its name and mtime (tempstate names are random per write)."""
    return {k: v for k, v in write_traces(checkpoints).items() if before.get(k) != v}


def leftovers(checkpoints):
    """Anything in ``checkpoints`` but the ``checkpoint`` index and the files
    of the checkpoints it records."""
    recorded = tf.train.get_checkpoint_state(checkpoints).all_model_checkpoint_paths
    prefixes = tuple(os.path.basename(path) + "." for path in recorded)
    return sorted(
        name
        for name in os.listdir(checkpoints)
        if name != "checkpoint" and not name.startswith(prefixes)
    )


class Interrupted:
    """One model's run, killed again and again and restarted with the same command."""

    def __init__(self, name, workdir, rng):
        self.name, self.workdir, self.rng = name, str(workdir), rng
        self.checkpoints = os.path.join(self.workdir, "checkpoints")
        self.command = _argv(MODELS[name], self.workdir)
        self.flags = os.path.join(self.workdir, "flags.txt")
        self.last_grid = os.path.join(self.workdir, "samples", f"epoch_{EPOCHS:04d}.png")
        self.kills = []  # one dict per process
        self.step_times = [0.3]  # seconds per step, as the processes showed them

    def plan(self):
        """[(kind, target step)] for the kills, in order."""
        kinds = ["write"] * max(1, KILLS // 3)
        epoch_end, export = KILLS >= 2, KILLS >= 4
        kinds += ["random"] * (KILLS - len(kinds) - epoch_end - export)
        self.rng.shuffle(kinds)
        # Kill i of these n aims at a random step of the i-th n-th of the
        # run (before its last two steps, which the end's kills need).
        span = TOTAL_STEPS - 2
        plan = [(kind, (i + self.rng.random()) / len(kinds) * span) for i, kind in enumerate(kinds)]
        return plan + [("epoch_end", None)] * epoch_end + [("export", None)] * export

    def _mtime(self, path):
        try:
            return os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None

    def _wait(self, process, condition, poll):
        """Waits until ``condition()`` or the process ends; True for the first."""
        deadline = time.time() + TIMEOUT
        while process.poll() is None:
            if condition():
                return True
            if time.time() > deadline:
                raise AssertionError(f"{self.name}: no progress in {TIMEOUT} s; {self.context()}")
            time.sleep(poll)
        return False

    def kill_once(self, i, kind, target):
        before_step = latest_step(self.checkpoints)
        before_traces = write_traces(self.checkpoints)
        flags_before = self._mtime(self.flags)
        staging = os.path.join(self.workdir, "export.partial")
        staging_before = self._mtime(staging)
        process = start_script(*self.command)
        started = time.time()
        last_seen, last_change = before_step, None

        def now():
            nonlocal last_seen, last_change
            step = latest_step(self.checkpoints)
            if step != last_seen:
                if None not in (last_change, step, last_seen):
                    self.step_times.append((time.time() - last_change) / max(1, step - last_seen))
                last_seen, last_change = step, time.time()
            return step or 0

        def training():
            # train.py rewrites flags.txt once it has restored, right before
            # it says "Resuming from"; from then on it is training.
            return self._mtime(self.flags) not in (None, flags_before)

        try:
            if kind in ("random", "write"):
                alive = self._wait(process, lambda: training() and now() >= int(target), 0.01)
                if alive and kind == "write":
                    # Aimed at the longest part of a save, its data file
                    # being written in the staging directory: the index and
                    # the renames take well under a millisecond.
                    alive = self._wait(
                        process,
                        lambda: any(
                            "_temp/" in name
                            for name in fresh_traces(self.checkpoints, before_traces)
                        ),
                        0.0002,
                    )
                elif alive:
                    # The median: an epoch's end or a stalled machine makes
                    # a few steps look many times longer than a step is.
                    time.sleep((target - int(target)) * float(np.median(self.step_times[-7:])))
            elif kind == "epoch_end":
                # The last epoch's sample grid is written at its end, before
                # the epoch's checkpoint.
                alive = self._wait(process, lambda: os.path.exists(self.last_grid), 0.001)
            else:  # export: while the export is written, after the last checkpoint
                alive = self._wait(process, lambda: os.path.exists(staging), 0.001)
                time.sleep(self.rng.uniform(0, 0.05))
            process.kill()
            out, err = process.communicate(timeout=TIMEOUT)
        finally:
            process.kill()
        record = dict(
            i=i,
            kind=kind,
            target=target and round(target, 2),
            before=before_step,
            after=latest_step(self.checkpoints),
            seconds=round(time.time() - started, 1),
            code=process.returncode,
            out=out,
            err=err,
            in_write=sorted(fresh_traces(self.checkpoints, before_traces)),
            in_export=self._mtime(staging) not in (None, staging_before),
        )
        self.kills.append(record)
        return record

    def context(self):
        lines = [
            f"seed {SEED} (GAN_ZOO_KILL_SEED={SEED} replays the draw), {KILLS} kills, "
            f"{TOTAL_STEPS} steps; the processes, in order:"
        ]
        for k in self.kills:
            said = resumed_step(k["out"])
            line = (
                f"  {k['i']}: {k['kind']}"
                f"{'' if k['target'] is None else ' ' + str(k['target'])}, checkpoint "
                f"{k['before']} -> {k['after']}, exit {k['code']} after {k['seconds']} s, "
                f"said resuming from {'-' if said is None else said}"
            )
            if k["in_write"]:
                line += f"; interrupted a write: {', '.join(k['in_write'])}"
            if k["in_export"]:
                line += "; interrupted the export"
            lines.append(line)
        if self.kills:
            last = self.kills[-1]
            lines.append(f"last stdout: {last['out'][-1500:]}\nlast stderr: {last['err'][-3000:]}")
        return "\n".join(lines)

    def run(self):
        started = time.time()
        for i, (kind, target) in enumerate(self.plan()):
            if self.kill_once(i, kind, target)["code"] != -9:
                break  # it finished before its kill; the checks say whether it may
        final = run_script(*self.command, timeout=TIMEOUT)
        self.kills.append(
            dict(
                i="final",
                kind="uninterrupted",
                target=None,
                before=self.kills[-1]["after"],
                after=latest_step(self.checkpoints),
                seconds=round(time.time() - started - sum(k["seconds"] for k in self.kills), 1),
                code=final.returncode,
                out=final.stdout,
                err=final.stderr,
                in_write=[],
                in_export=False,
            )
        )
        self.seconds = time.time() - started
        return self


def resumed_step(out):
    found = re.findall(r"Resuming from (\S+) \(step (\d+),", out)
    assert len(found) <= 1, out
    return int(found[0][1]) if found else None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both models' interrupted runs and their uninterrupted twins, all at once:
    the polling between kills leaves the CPUs to the processes."""
    base = tmp_path_factory.mktemp("preemption")
    rng = random.Random(SEED)
    interrupted = {
        name: Interrupted(name, base / f"{name}_killed", random.Random(rng.random()))
        for name in MODELS
    }
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(len(interrupted) + 1) as pool:
        whole = pool.submit(
            run_scripts,
            {name: _argv(settings, base / f"{name}_whole") for name, settings in MODELS.items()},
            TIMEOUT,
        )
        done = {name: pool.submit(run.run) for name, run in interrupted.items()}
        done = {name: future.result() for name, future in done.items()}
        for name, result in whole.result().items():
            assert result.returncode == 0, f"{name} uninterrupted:\n{result.stderr[-3000:]}"
    print(f"\n{time.time() - started:.0f} s")
    for name, run in done.items():
        print(f"{name}: {run.seconds:.0f} s\n{run.context().split('last stdout')[0]}")
    return {name: (run, base / f"{name}_whole") for name, run in done.items()}


def checkpoint_values(workdir):
    """Every variable of the newest checkpoint in ``workdir`` but the count of
    saves, which depends on how often a run was restarted, not on training."""
    path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    return os.path.basename(path), {
        key: reader.get_tensor(key)
        for key in reader.get_variable_to_shape_map()
        if key not in ("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter/.ATTRIBUTES/VARIABLE_VALUE")
    }


@pytest.mark.parametrize("name", list(MODELS))
def test_every_rerun_after_a_sigkill_resumes_from_the_newest_complete_checkpoint(runs, name):
    run = runs[name][0]
    context = run.context()
    *killed, final = run.kills
    assert len(killed) == KILLS and all(k["code"] == -9 for k in killed), context
    assert any(k["in_write"] for k in killed), "no kill interrupted a checkpoint write\n" + context
    # The kill at the last epoch's end came after its sample grid and before
    # its checkpoint: the rerun must redo that epoch's last step and end.
    assert all(k["after"] == TOTAL_STEPS - 1 for k in killed if k["kind"] == "epoch_end"), (
        "the last epoch's end was checkpointed before its end-of-epoch work, or the kill "
        "came late\n" + context
    )
    steps = [k["after"] for k in run.kills if k["after"] is not None]
    assert steps == sorted(steps), "a checkpoint index went back\n" + context
    for k in run.kills:
        assert "Traceback" not in k["err"] and "error:" not in k["err"], context
        said = resumed_step(k["out"])
        # A process killed before it printed says nothing; one that printed
        # must name the newest complete checkpoint, and one that got
        # anywhere (a new checkpoint, a write, the end) must have printed.
        # (A fork's stdout is block-buffered, so a killed one loses what it
        # printed last; Keras flushes it as each epoch starts, which every
        # process that got anywhere has passed.)
        if said is not None or k["after"] != k["before"] or k["in_write"] or k is final:
            assert said == k["before"], f"process {k['i']} resumed from {said}\n" + context
    assert final["code"] == 0, context
    assert final["after"] == TOTAL_STEPS, context
    # Nothing a killed write left behind stays: not read, never deleted by
    # max_to_keep, up to a checkpoint's size each.
    assert not leftovers(run.checkpoints), context


@pytest.mark.parametrize("name", list(MODELS))
def test_a_killed_deterministic_run_ends_with_the_uninterrupted_weights(runs, name):
    run, whole = runs[name]
    context = run.context()
    # Exact equality, not 1e-6: with --deterministic on one device the same
    # steps from the same restored state compute the same floats, so any
    # difference is a resumption bug (a batch read twice, a noise draw
    # replayed, a counter restored wrong), however small.
    name_killed, killed = checkpoint_values(run.workdir)
    name_whole, expected = checkpoint_values(whole)
    assert name_killed == name_whole == f"ckpt-{TOTAL_STEPS}", context
    assert sorted(killed) == sorted(expected), context
    different = {
        key: float(np.max(np.abs(killed[key].astype(np.float64) - expected[key])))
        for key in expected
        if not np.array_equal(killed[key], expected[key])
    }
    assert not different, f"{len(different)} variables differ: {different}\n" + context
    summary = json.load(open(os.path.join(run.workdir, "summary.json")))
    assert summary["epochs_done"] == EPOCHS, context


def test_sigterm_at_an_epoch_s_last_step_checkpoints_the_epoch_as_done(tmp_path, monkeypatch):
    """The other way a checkpoint is written at an epoch's last step (the
    epoch_end kills above test that the periodic one is not): a run stopped
    there saved the epoch uncounted, and if it was the last epoch, the
    rerun, with nothing left to train, reported one epoch fewer."""
    import signal

    from conftest import tiny_config

    from gan_zoo import callbacks, training
    from gan_zoo.errors import Interrupted

    original = callbacks.Throughput.on_train_batch_end

    def sigterm_after_step_2(self, batch, logs=None):  # the first epoch's last step
        original(self, batch, logs)
        if callbacks.steps_done(self.model) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(callbacks.Throughput, "on_train_batch_end", sigterm_after_step_2)
    with pytest.raises(Interrupted, match="SIGTERM after step 2"):
        training.run(
            tiny_config(
                tmp_path,
                model="vae",
                hidden_units=16,
                hidden_layers=1,
                latent_dim=2,
                epochs=2,
                steps_per_epoch=2,
                steps_per_execution=1,
            ),
            verbose=0,
        )
    path = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert path.endswith("ckpt-2")
    assert tf.train.load_checkpoint(path).get_tensor("epochs_done/.ATTRIBUTES/VARIABLE_VALUE") == 1


def test_what_killed_saves_left_is_deleted_when_training_starts(tmp_path):
    from gan_zoo import callbacks

    checkpoint = tf.train.Checkpoint(v=tf.Variable(1.0))
    manager = tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=2)
    for step in (1, 2, 3):
        manager.save(checkpoint_number=step)
    # A save of 4 killed while staging, one of 5 killed before the index
    # named it, one of 2 (an epoch end's second save) killed while staging,
    # and an index write killed before its rename.
    for name in (
        "ckpt-4_temp/part-00000-of-00001.data-00000-of-00001.tempstate123",
        "ckpt-2_temp/part-00000-of-00001.index",
        "ckpt-5.index",
        "ckpt-5.data-00000-of-00001",
        "checkpoint.tmp0123abcd",
    ):
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        (tmp_path / name).write_bytes(b"partial")
    (tmp_path / "notes.txt").write_text("not ours")
    callbacks.remove_unfinished_saves(
        tf.train.CheckpointManager(checkpoint, str(tmp_path), max_to_keep=2)
    )
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
        "ckpt-3.data-00000-of-00001",
        "ckpt-3.index",
        "notes.txt",
    ]
