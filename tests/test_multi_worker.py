"""--strategy=multi_worker: two train.py worker processes on localhost ports."""

import json
import os
import re
import socket

import numpy as np
import pytest
import tensorflow as tf
from conftest import start_script, tiny_config

from gan_zoo import execution, training
from gan_zoo.errors import UserError

FLAGS = dict(
    model="vae",
    hidden_units=16,
    hidden_layers=1,
    latent_dim=2,
    batch_size=8,
    steps_per_epoch=3,
    epochs=2,
    max_examples=64,
    num_samples=4,
    seed=3,
)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_worker(command, workers, index):
    """``python <command>`` as worker ``index`` of the cluster ``workers``."""
    tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    return start_script(*command, env={"TF_CONFIG": json.dumps(tf_config)})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Runs a 2-worker job to the end; returns (workdir, [worker stdout])."""
    workdir = tmp_path_factory.mktemp("multi_worker") / "run"
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    command = ["train.py", f"--workdir={workdir}", "--strategy=multi_worker"]
    command += [f"--{name}={value}" for name, value in FLAGS.items()]
    procs = [_start_worker(command, workers, index) for index in range(2)]
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err[-3000:]
            outputs.append(out)
    finally:
        for proc in procs:
            proc.kill()
    return workdir, outputs


def test_two_workers_train_and_the_chief_writes_a_loadable_export(cluster, tmp_path):
    workdir, outputs = cluster
    assert sorted(os.listdir(workdir / "checkpoints"))[0] == "checkpoint"
    export = tf.saved_model.load(str(workdir / "export"))
    z = tf.constant([[0.0, 0.0], [1.0, -1.0]])
    images = export.signatures["decode"](z=z)["images"].numpy()
    assert images.shape == (2, 28, 28, 1)
    # The same global batches, noise and averaged losses on one device give
    # the same weights: the two workers took the one-device steps together.
    alone = training.run(tiny_config(tmp_path / "alone", **FLAGS), verbose=0)
    expected = alone.model.decoder(z).numpy()
    np.testing.assert_allclose(images, expected, atol=1e-5)


def test_the_other_worker_writes_only_into_a_scratch_directory_it_deletes(cluster):
    workdir, outputs = cluster
    scratch = re.search(r"Done: .* in (\S+);", outputs[1]).group(1)
    assert scratch != str(workdir) and not os.path.exists(scratch)
    assert f"in {workdir};" in outputs[0]


def test_multi_worker_without_tf_config_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    cfg = tiny_config(tmp_path, strategy="multi_worker")
    with pytest.raises(UserError, match="TF_CONFIG environment variable, which is not set"):
        execution.strategy_for(cfg)
    monkeypatch.setenv(
        "TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}'
    )
    with pytest.raises(UserError, match="TF_CONFIG is not a cluster this process is in"):
        execution.strategy_for(cfg)


@pytest.mark.parametrize(
    "cluster_spec, task, chief",
    [
        ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),
        ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, ("chief", 0), True),
        ({"chief": ["c:1"], "worker": ["a:1"]}, ("worker", 0), False),
    ],
)
def test_only_the_chief_writes_the_run(cluster_spec, task, chief):
    class Strategy:
        cluster_resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster_spec), task_type=task[0], task_id=task[1]
        )

    assert execution.is_chief(Strategy()) is chief
    assert execution.is_chief(tf.distribute.get_strategy())  # no cluster: one process


# What the chief's and the other worker's collectives raised when the other
# process was killed (trimmed), and an UnavailableError of another kind.
HEARTBEATS = (
    "{{function_node __wrapped__CollectiveReduceV2_Nordering_token_1_device_/job:worker/"
    "replica:0/task:0/device:CPU:0}} Collective ops is aborted by: Error reported from "
    "/job:worker/task:1: The following tasks are unhealthy (stopped sending heartbeats):"
    "\n/job:worker/replica:0/task:1\nThe tasks have crashed. [Op:CollectiveReduceV2]"
)
RESET = (
    "Collective ops is aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error "
    "information from remote target /job:worker/replica:0/task:0 while calling "
    "/tensorflow.WorkerService/CompleteInstance:\n [[{{node adam/CollectiveReduceV2}}]]"
)
RESTARTED = (
    "Collective ops is aborted by: Error reported from /job:worker/task:1: /job:worker/"
    "replica:0/task:1 unexpectedly tried to connect with a different incarnation. It has "
    "likely restarted.\n [[{{node CollectiveReduceV2}}]] [Op:__inference_multi_step_on_"
    "iterator_1560]"
)


@pytest.mark.parametrize(
    "error, task, expected",
    [
        (
            tf.errors.UnavailableError(None, None, HEARTBEATS),
            0,
            "worker 1 of the multi-worker job stopped sending heartbeats",
        ),
        (
            tf.errors.UnavailableError(None, None, RESET),
            1,
            "worker 0 of the multi-worker job could no longer be reached",
        ),
        (
            tf.errors.AbortedError(None, None, RESTARTED),
            0,
            "worker 1 of the multi-worker job restarted",
        ),
        (tf.errors.AbortedError(None, None, "Collective ops is aborted by: cancelled"), 0, None),
        (
            tf.errors.UnavailableError(None, None, "gs://bucket/file: 503 Service Unavailable"),
            0,
            None,
        ),
        (tf.errors.InternalError(None, None, HEARTBEATS), 0, None),
        (ValueError(HEARTBEATS), 0, None),
    ],
)
def test_a_lost_worker_is_named_in_one_line_and_other_errors_are_left_alone(
    monkeypatch, error, task, expected
):
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": task}}
        ),
    )
    message = execution.lost_task_message(error)
    if expected is None:
        assert message is None
    else:
        assert message.startswith(expected + ", and the job cannot go on without it")
        assert "\n" not in message


def _checkpoint(workdir):
    """{name: value} of every variable in the newest checkpoint but the count
    of saves (which counts restarts, not training)."""
    reader = tf.train.load_checkpoint(str(workdir / "checkpoints"))
    skip = ("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter/.ATTRIBUTES/VARIABLE_VALUE")
    return {
        key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map() if key not in skip
    }


def test_a_lost_worker_stops_the_job_with_one_line_and_the_restarted_job_ends_as_one_never_stopped(
    cluster, tmp_path
):
    """Worker 1 is killed (SIGKILL) mid-run and started again at once, as a
    scheduler would. What MultiWorkerMirroredStrategy does then: the chief's
    coordination service misses worker 1's heartbeats and, within 10 s, aborts
    the chief's collectives; it refuses the restarted worker 1 (a task it has
    marked failed cannot reconnect), which waits for a chief. So the chief
    stops, with one line saying what to do, and is started again too; the
    job then forms anew and both resume from the chief's checkpoint."""
    import signal
    import time

    workdir = tmp_path / "run"
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    command = [
        "train.py",
        f"--workdir={workdir}",
        "--strategy=multi_worker",
        "--checkpoint_every_steps=1",
    ]
    command += [f"--{name}={value}" for name, value in FLAGS.items()]

    def start(index):
        return _start_worker(command, workers, index)

    def latest():
        path = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
        return path and int(path.rsplit("-", 1)[1])

    chief, other = start(0), start(1)
    try:
        deadline = time.time() + 180
        while not latest() and chief.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        other.kill()
        assert other.communicate(timeout=60) and other.returncode == -signal.SIGKILL
        killed_at = latest()
        assert killed_at and killed_at < 6, "the job was not mid-run"
        other = start(1)
        stopped = time.time()
        _, err = chief.communicate(timeout=120)  # a hang fails here
        print(f"the chief stopped {time.time() - stopped:.0f} s after worker 1's restart")
        assert chief.returncode == 1, err[-3000:]
        # Which TF reports first depends on timing: the missed heartbeats,
        # the reset of the connection to the killed worker, or the restarted
        # worker's reconnection under a new incarnation.
        assert re.fullmatch(
            r"error: worker 1 of the multi-worker job (stopped sending heartbeats|could no "
            r"longer be reached|restarted), and the job cannot go on without it or take a "
            r"restarted one back: run the same command again on every worker, this one "
            r"included; they resume from the chief's newest checkpoint\.",
            err.splitlines()[-1],
        ), err[-3000:]
        assert "Traceback" not in err
        assert other.poll() is None  # the restarted worker 1 waits for a chief
        resumed_at = latest()
        chief = start(0)
        outputs = [process.communicate(timeout=180) for process in (chief, other)]
    finally:
        chief.kill()
        other.kill()
    for process, (out, err) in zip((chief, other), outputs):
        assert process.returncode == 0, err[-3000:]
        assert f"Resuming from {workdir}/checkpoints (step {resumed_at}," in out
    scratch = re.search(r"Done: .* in (\S+);", outputs[1][0]).group(1)
    assert scratch != str(workdir) and not os.path.exists(scratch)
    # The restarted job ends where the job that was never stopped ended.
    restarted, whole = _checkpoint(workdir), _checkpoint(cluster[0])
    assert sorted(restarted) == sorted(whole)
    for key in whole:
        np.testing.assert_array_equal(restarted[key], whole[key], err_msg=key)
