"""Training under tf.distribute.MirroredStrategy on 2 logical CPU devices
(in a subprocess: logical devices must be set before TensorFlow starts)."""

import json
import textwrap

from conftest import run_script

SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, "tests")
    from conftest import tiny_config
    from gan_zoo import training
    out = {}
    with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
        for model, extra in [("aae", dict(pretrain_epochs=1, epochs=3)),
                             ("aae_semi_supervised", dict(num_labels=20))]:
            run = training.run(tiny_config(sys.argv[1] + "/" + model, model=model,
                                           hidden_units=16, hidden_layers=1, **extra), verbose=0)
            out[model] = {"history": {k: v[-1] for k, v in run.history.items()},
                          "d_updates": int(run.model.d_optimizer.iterations.numpy()),
                          "replicas": tf.distribute.get_strategy().num_replicas_in_sync}
    print(json.dumps(out))
""")


def test_adversarial_autoencoders_train_under_mirrored_strategy(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(SCRIPT)
    result = run_script(str(script), str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # Pretraining (1 of 3 epochs, 2 steps each) is reconstruction-only; the
    # switch to regularization happens inside fit, with 2 replicas.
    assert out["aae"]["replicas"] == 2 and out["aae"]["d_updates"] == 4
    assert all(abs(v) < 1e6 for v in out["aae"]["history"].values())
    assert 0.0 <= out["aae_semi_supervised"]["history"]["test_error"] <= 1.0
