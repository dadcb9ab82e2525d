"""--strategy=multi_worker: two train.py worker processes on localhost ports."""

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, tiny_config
from gan_zoo import execution, training
from gan_zoo.errors import UserError

FLAGS = dict(model="vae", hidden_units=16, hidden_layers=1, latent_dim=2, batch_size=8,
             steps_per_epoch=3, epochs=2, max_examples=64, num_samples=4, seed=3)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Runs a 2-worker job to the end; returns (workdir, [worker stdout])."""
    workdir = tmp_path_factory.mktemp("multi_worker") / "run"
    workers = [f"localhost:{port}" for port in _free_ports(2)]
    args = [sys.executable, "train.py", f"--workdir={workdir}", "--strategy=multi_worker"]
    args += [f"--{name}={value}" for name, value in FLAGS.items()]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(args, cwd=ROOT, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
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
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": '
                                    '{"type": "worker", "index": 3}}')
    with pytest.raises(UserError, match="TF_CONFIG is not a cluster this process is in"):
        execution.strategy_for(cfg)


@pytest.mark.parametrize("cluster_spec, task, chief", [
    ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),
    ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("chief", 0), True),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("worker", 0), False),
])
def test_only_the_chief_writes_the_run(cluster_spec, task, chief):
    class Strategy:
        cluster_resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster_spec), task_type=task[0], task_id=task[1])

    assert execution.is_chief(Strategy()) is chief
    assert execution.is_chief(tf.distribute.get_strategy())  # no cluster: one process
