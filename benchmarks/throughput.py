"""Training throughput of a registered model on synthetic data.

    python benchmarks/throughput.py --model=dcgan --image_size=64 --batch_size=64 --steps=20
    python benchmarks/throughput.py --model=dcgan --mixed_precision=mixed_bfloat16 --jit_compile
    python benchmarks/throughput.py --model=gan --sweep     # every dtype x XLA choice
    python benchmarks/throughput.py --model=gan --steps_per_execution=1,10

Trains through ``model.fit`` (as train.py does) on one synthetic batch
repeated, so the input pipeline is not measured here (see
benchmarks/input_pipeline.py). Prints images/second, the training step's
FLOPs per image (counted by TensorFlow's profiler on the traced float32 step),
the achieved GFLOP/s, and that as a fraction of this machine's matmul peak
measured in the same run, in float32 and in the run's compute dtype. Absolute
times on shared machines are noisy: candidates are timed in interleaved
rounds and each keeps its fastest, and the ratios are what to compare. The
last line of stdout is one JSON object (a JSON list when several candidates run).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from gan_zoo import cli  # noqa: E402

flags.DEFINE_string("model", "dcgan", "Registered model name.")
flags.DEFINE_integer("image_size", 64, "DCGAN: image size.")
flags.DEFINE_integer("channels", 3, "DCGAN: image channels.")
flags.DEFINE_integer("batch_size", 64, "Minibatch size m.")
flags.DEFINE_integer("steps", 20, "Timed training steps per round (after 2 warm-up calls).")
flags.DEFINE_integer("rounds", 3, "Timing rounds; each candidate keeps its fastest.")
flags.DEFINE_enum("mixed_precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"],
                  "Compute dtype.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step.")
flags.DEFINE_list("steps_per_execution", ["1"],
                  "Training steps per call into TensorFlow; several (1,10) are compared.")
flags.DEFINE_list("mixed_precisions", [], "Several --mixed_precision values to compare.")
flags.DEFINE_integer("inter_op_threads", 0, "TensorFlow's inter-op threads (0 = its default).")
flags.DEFINE_bool("sweep", False, "Measure every --mixed_precision x --jit_compile choice.")
flags.DEFINE_integer("matmul_size", 2048, "Side of the square matmul used to measure peak.")
FLAGS = flags.FLAGS

DTYPES = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


def matmul_peak_gflops(n: int, dtype: str = "float32", repeats: int = 10) -> float:
    """Best-of GFLOP/s of an n x n matmul in ``dtype`` on this machine right now."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    mm = tf.function(lambda x, y: tf.matmul(x, y))
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def step_flops(model, batch) -> float:
    """FLOPs of one ``train_step`` on ``batch``, from TF's profiler."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    graph = tf.function(model.train_step).get_concrete_function(batch).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(model_analyzer.profile(graph, options=options).total_float_ops)


def build(precision: str):
    """(config, model, one synthetic batch) for the flags' model in ``precision``."""
    import numpy as np
    import tensorflow as tf

    from gan_zoo import config, execution, registry
    from gan_zoo.datasets.base import ArraySource

    cfg = config.resolve({"model": FLAGS.model, "image_size": FLAGS.image_size,
                          "batch_size": FLAGS.batch_size, "workdir": "/tmp/unused",
                          "mixed_precision": precision})
    model_cls = registry.model_class(cfg.model)
    # DCGAN works at --image_size; every other model is benchmarked on MNIST-sized digits.
    shape = ((FLAGS.image_size, FLAGS.image_size, FLAGS.channels) if cfg.model == "dcgan"
             else (28, 28, 1))
    images = np.random.default_rng(0).integers(0, 256, (16,) + shape, np.uint8)
    source = ArraySource("synthetic", {"train": (images, np.zeros(16, np.int64))},
                         num_classes=10)
    with execution.dtype_policy(precision):
        model = model_cls.from_flags(cfg, source, steps_per_epoch=100)
    per_step = model_cls.examples_per_step(cfg)
    low, high = model_cls.output_range
    batch = {"image": tf.random.uniform((per_step,) + model_cls.image_shape(cfg, source),
                                        low, high, seed=1),
             "label": tf.zeros((per_step,), tf.int32)}
    return cfg, model, batch


class Candidate:
    """One (dtype, XLA) choice: its model, traced and warmed up, ready to time."""

    def __init__(self, precision: str, jit: bool, per_call: int):
        import tensorflow as tf

        self.precision, self.jit, self.per_call = precision, jit, per_call
        self.steps = -(-FLAGS.steps // per_call) * per_call  # whole calls
        self.cfg, self.model, batch = build(precision)
        self.per_step = int(batch["image"].shape[0])
        self.flops = step_flops(self.model, batch)
        self.model.jit_compile = jit
        self.model.steps_per_execution = per_call
        self.data = tf.data.Dataset.from_tensors(batch).repeat()
        self.fit(2 * per_call)  # traces (and compiles)
        self.seconds = []

    def fit(self, steps: int) -> float:
        start = time.perf_counter()
        self.model.fit(self.data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        return time.perf_counter() - start

    def time(self) -> None:
        self.seconds.append(self.fit(self.steps))

    def result(self, peaks: dict) -> dict:
        import tensorflow as tf

        seconds = min(self.seconds)  # the least disturbed round on a shared machine
        achieved = self.flops * self.steps / seconds / 1e9
        peak, own = peaks["float32"], peaks[DTYPES[self.precision]]
        return {"model": self.cfg.model, "image_size": self.cfg.image_size
                if self.cfg.model == "dcgan" else 28, "batch_size": self.cfg.batch_size,
                "mixed_precision": self.precision, "jit_compile": self.jit,
                "steps_per_execution": self.per_call, "steps": self.steps,
                "rounds": len(self.seconds),
                "images_per_second": self.steps * self.per_step / seconds,
                "gflops_per_image": self.flops / self.per_step / 1e9,
                "achieved_gflops": achieved, "matmul_peak_gflops": peak,
                "fraction_of_peak": achieved / peak,
                "matmul_peak_gflops_compute_dtype": own,
                "fraction_of_compute_dtype_peak": achieved / own,
                "threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
                "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU"}


def main(argv):
    del argv
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    precisions = (list(DTYPES) if FLAGS.sweep else FLAGS.mixed_precisions
                  or [FLAGS.mixed_precision])
    jits = [False, True] if FLAGS.sweep else [FLAGS.jit_compile]
    candidates = [Candidate(precision, jit, int(per_call)) for precision in precisions
                  for jit in jits for per_call in FLAGS.steps_per_execution]
    # Rounds interleave the candidates, so a slow spell of a shared machine
    # hits all of them alike; each keeps its best round, and so does the peak.
    peaks = {}
    for _ in range(FLAGS.rounds):
        for candidate in candidates:
            candidate.time()
        for precision in {DTYPES[c.precision] for c in candidates} | {"float32"}:
            peaks[precision] = max(peaks.get(precision, 0.0),
                                   matmul_peak_gflops(FLAGS.matmul_size, precision))
    results = [c.result(peaks) for c in candidates]
    for r in results:
        r["speedup_over_first"] = r["images_per_second"] / results[0]["images_per_second"]
        print(f"{r['model']} {r['mixed_precision']:>14} jit={str(r['jit_compile']):5} "
              f"steps/call={r['steps_per_execution']:<3}: "
              f"{r['images_per_second']:8.1f} images/s, {r['achieved_gflops']:7.1f} GFLOP/s = "
              f"{100 * r['fraction_of_peak']:3.0f}% of the float32 matmul peak "
              f"({r['matmul_peak_gflops']:.1f} GFLOP/s); "
              f"{100 * r['fraction_of_compute_dtype_peak']:3.0f}% of the "
              f"{DTYPES[r['mixed_precision']]} peak ({r['matmul_peak_gflops_compute_dtype']:.1f}); "
              f"{r['speedup_over_first']:.2f}x the first row", flush=True)
    print(json.dumps(results if len(results) > 1 else results[0]))


if __name__ == "__main__":
    cli.run(main)
