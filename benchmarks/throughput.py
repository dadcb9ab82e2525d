"""Training throughput of a registered model on synthetic data.

    python benchmarks/throughput.py --model=dcgan --image_size=64 --batch_size=64 --steps=20

Prints images/second, the training step's FLOPs per image (counted by
TensorFlow's profiler on the traced step), the achieved GFLOP/s, and that as
a fraction of this machine's float32 matmul peak measured in the same run
(absolute times on shared machines are noisy; the ratio is what to compare).
The last line of stdout is one JSON object.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from gan_zoo import cli  # noqa: E402

flags.DEFINE_string("model", "dcgan", "Registered model name.")
flags.DEFINE_integer("image_size", 64, "Image size for convolutional models.")
flags.DEFINE_integer("channels", 3, "Image channels.")
flags.DEFINE_integer("batch_size", 64, "Minibatch size m.")
flags.DEFINE_integer("steps", 20, "Timed training steps (after 3 warm-up steps).")
flags.DEFINE_integer("matmul_size", 2048, "Side of the square matmul used to measure peak.")
FLAGS = flags.FLAGS


def matmul_peak_gflops(n: int, repeats: int = 10) -> float:
    """Best-of float32 GFLOP/s of an n x n matmul on this machine right now."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def step_flops(fn, batch) -> float:
    """FLOPs of one call of tf.function ``fn`` on ``batch``, from TF's profiler."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    graph = fn.get_concrete_function(batch).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(model_analyzer.profile(graph, options=options).total_float_ops)


def main(argv):
    del argv

    import numpy as np
    import tensorflow as tf

    from gan_zoo import config, registry
    from gan_zoo.datasets.base import ArraySource

    cfg = config.resolve({"model": FLAGS.model, "image_size": FLAGS.image_size,
                          "batch_size": FLAGS.batch_size, "workdir": "/tmp/unused"})
    model_cls = registry.model_class(cfg.model)
    size = FLAGS.image_size if FLAGS.model != "gan" else 28
    channels = FLAGS.channels if FLAGS.model != "gan" else 1
    images = np.random.default_rng(0).integers(0, 256, (256, size, size, channels), np.uint8)
    source = ArraySource("synthetic", {"train": (images, None)}, num_classes=0)
    model = model_cls.from_flags(cfg, source, steps_per_epoch=100)
    per_step = model_cls.examples_per_step(cfg)
    low, high = model_cls.output_range
    batch = {"image": tf.random.uniform((per_step,) + model_cls.image_shape(cfg, source),
                                        low, high),
             "label": tf.zeros((per_step,), tf.int32)}
    step = tf.function(model.train_step)
    flops = step_flops(step, batch)
    for _ in range(3):
        step(batch)
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        out = step(batch)
    float(out["d_loss"])  # wait for the last step
    seconds = time.perf_counter() - start
    peak = matmul_peak_gflops(FLAGS.matmul_size)
    rate = FLAGS.steps * per_step / seconds
    achieved = flops * FLAGS.steps / seconds / 1e9
    result = {"model": cfg.model, "image_size": size, "channels": channels,
              "batch_size": cfg.batch_size, "steps": FLAGS.steps, "images_per_second": rate,
              "gflops_per_image": flops / per_step / 1e9, "achieved_gflops": achieved,
              "matmul_peak_gflops": peak, "fraction_of_peak": achieved / peak,
              "threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
              "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU"}
    print(f"{cfg.model}: {rate:.1f} images/s, {achieved:.1f} GFLOP/s "
          f"= {100 * achieved / peak:.0f}% of the measured matmul peak ({peak:.1f} GFLOP/s)")
    print(json.dumps(result))


if __name__ == "__main__":
    cli.run(main)
