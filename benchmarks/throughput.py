"""Training throughput of a registered model on synthetic data.

    python benchmarks/throughput.py --model=dcgan --image_size=64 --batch_size=64 --steps=20
    python benchmarks/throughput.py --model=dcgan --side_by_side   # and a plain-Keras peer
    python benchmarks/throughput.py --model=dcgan --mixed_precision=mixed_bfloat16 --jit_compile
    python benchmarks/throughput.py --model=gan --sweep     # every dtype x XLA choice
    python benchmarks/throughput.py --model=gan --steps_per_execution=1,10

Trains through ``model.fit`` (as train.py does) on one synthetic batch
repeated, so the input pipeline is not measured here (see
benchmarks/input_pipeline.py). Each candidate is timed in --rounds separate
``fit`` calls, interleaved with the other candidates', and reported as the
median round (what a user gets), the best round, and the spread (slowest to
fastest round). Also printed: the training step's FLOPs per image (counted by
TensorFlow's profiler on the traced float32 step), the achieved GFLOP/s at the
median, and that as a fraction of this machine's matmul peak measured in the
same run, in float32 and in the run's compute dtype. With --side_by_side a
plain-Keras reference of the same networks and step (benchmarks/keras_peer.py)
runs in the same rounds, and ours/peer is printed. Absolute times on shared
machines are noisy; the ratios are what to compare. The last line of stdout is
one JSON object (a JSON list when several candidates run)."""

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
flags.DEFINE_integer(
    "rounds",
    5,
    "Timing rounds (fit calls) per candidate; their median, best and spread are reported.",
)
flags.DEFINE_enum(
    "mixed_precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"], "Compute dtype."
)
flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step.")
flags.DEFINE_list(
    "steps_per_execution",
    ["1"],
    "Training steps per call into TensorFlow; several (1,10) are compared.",
)
flags.DEFINE_list("mixed_precisions", [], "Several --mixed_precision values to compare.")
flags.DEFINE_integer("inter_op_threads", 0, "TensorFlow's inter-op threads (0 = its default).")
flags.DEFINE_bool("sweep", False, "Measure every --mixed_precision x --jit_compile choice.")
flags.DEFINE_bool(
    "side_by_side",
    False,
    "Also time a plain-Keras reference of the same networks and step "
    "(benchmarks/keras_peer.py) in the same rounds, and print ours/peer.",
)
flags.DEFINE_integer("matmul_size", 2048, "Side of the square matmul used to measure peak.")
FLAGS = flags.FLAGS

DTYPES = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


def matmul_peak_gflops(n: int, dtype: str = "float32", repeats: int = 10) -> float:
    """Best-of GFLOP/s of an n x n matmul in ``dtype`` on this machine right now."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    mm = tf.function(tf.matmul, autograph=False)
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


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

    from gan_zoo import execution, registry
    from gan_zoo.datasets.base import ArraySource

    cfg = registry.resolve(
        {
            "model": FLAGS.model,
            "image_size": FLAGS.image_size,
            "batch_size": FLAGS.batch_size,
            "workdir": "/tmp/unused",
            "mixed_precision": precision,
        }
    )
    model_cls = registry.model_class(cfg.model)
    # DCGAN works at --image_size; every other model is benchmarked on MNIST-sized digits.
    shape = (
        (FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
        if cfg.model == "dcgan"
        else (28, 28, 1)
    )
    images = np.random.default_rng(0).integers(0, 256, (16,) + shape, np.uint8)
    source = ArraySource("synthetic", {"train": (images, np.zeros(16, np.int64))}, num_classes=10)
    with execution.dtype_policy(precision):
        model = model_cls.from_flags(cfg, source, steps_per_epoch=100)
    per_step = model_cls.examples_per_step(cfg)
    low, high = model_cls.output_range
    batch = {
        "image": tf.random.uniform(
            (per_step,) + model_cls.image_shape(cfg, source), low, high, seed=1
        ),
        "label": tf.zeros((per_step,), tf.int32),
    }
    return cfg, model, batch


class Timed:
    """A compiled model timed in whole ``fit`` calls of the same number of steps."""

    def __init__(self, model, batch, jit: bool, per_call: int, callbacks=()):
        import tensorflow as tf

        self.model, self.jit, self.per_call = model, jit, per_call
        self.callbacks = list(callbacks)
        self.steps = -(-FLAGS.steps // per_call) * per_call  # whole calls
        self.per_step = int(batch["image"].shape[0])
        self.flops = step_flops(model, batch)
        model.jit_compile = jit
        model.steps_per_execution = per_call
        from gan_zoo.datasets import pipeline

        # Without tf.data's autotuning, as train.py's pipeline: its thread
        # made a fit call's end wait for its next wake-up (gan_zoo/datasets/pipeline.py).
        self.data = tf.data.Dataset.from_tensors(batch).repeat()
        self.data = self.data.with_options(pipeline.WITHOUT_AUTOTUNING)
        self.fit(2 * per_call)  # traces (and compiles)
        self.seconds = []

    def fit(self, steps: int) -> float:
        start = time.perf_counter()
        self.model.fit(
            self.data,
            steps_per_epoch=steps,
            epochs=1,
            verbose=0,
            shuffle=False,
            callbacks=self.callbacks,
        )
        return time.perf_counter() - start

    def time(self) -> None:
        self.seconds.append(self.fit(self.steps))

    def rates(self) -> list:
        """Images per second of each round, in the order timed."""
        return [self.steps * self.per_step / s for s in self.seconds]

    def summary(self) -> dict:
        import numpy as np

        rates = self.rates()
        median = float(np.median(rates))
        return {
            "images_per_second": median,
            "images_per_second_best": max(rates),
            "images_per_second_worst": min(rates),
            "spread": (max(rates) - min(rates)) / median,
            "images_per_second_rounds": rates,
            "achieved_gflops": self.flops / self.per_step * median / 1e9,
            "gflops_per_image": self.flops / self.per_step / 1e9,
        }


class Candidate(Timed):
    """One (dtype, XLA, steps per call) choice of the flags' model, fit as train.py fits."""

    def __init__(self, precision: str, jit: bool, per_call: int):
        self.precision = precision
        self.cfg, model, batch = build(precision)
        super().__init__(model, batch, jit, per_call)
        self.peer = None
        if FLAGS.side_by_side:
            import keras_peer

            self.peer = Timed(keras_peer.peer_of(model, self.cfg), batch, jit, per_call)

    def timed(self) -> list:
        return [self] + ([self.peer] if self.peer else [])

    def result(self, peaks: dict) -> dict:
        import numpy as np
        import tensorflow as tf

        peak, own = peaks["float32"], peaks[DTYPES[self.precision]]
        result = {
            "model": self.cfg.model,
            "image_size": self.cfg.image_size if self.cfg.model == "dcgan" else 28,
            "batch_size": self.cfg.batch_size,
            "mixed_precision": self.precision,
            "jit_compile": self.jit,
            "steps_per_execution": self.per_call,
            "steps": self.steps,
            "rounds": len(self.seconds),
            **self.summary(),
            "matmul_peak_gflops": peak,
            "matmul_peak_gflops_compute_dtype": own,
            "threads": (tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()),
            "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        }
        result["fraction_of_peak"] = result["achieved_gflops"] / peak
        result["fraction_of_peak_best"] = (
            result["fraction_of_peak"]
            * result["images_per_second_best"]
            / result["images_per_second"]
        )
        result["fraction_of_compute_dtype_peak"] = result["achieved_gflops"] / own
        if self.peer:
            ours, theirs = self.rates(), self.peer.rates()
            result["keras_peer"] = self.peer.summary()
            result["over_keras_peer"] = (
                result["images_per_second"] / result["keras_peer"]["images_per_second"]
            )
            # Rounds interleave the two, so each round's ratio shares that round's load.
            result["over_keras_peer_rounds"] = [a / b for a, b in zip(ours, theirs)]
            result["over_keras_peer_round_median"] = float(
                np.median(result["over_keras_peer_rounds"])
            )
        return result


def _rates(r: dict) -> str:
    return (
        f"median {r['images_per_second']:8.1f} images/s (best {r['images_per_second_best']:.1f}, "
        f"rounds {r['images_per_second_worst']:.1f}-{r['images_per_second_best']:.1f}, "
        f"spread {100 * r['spread']:.0f} %)"
    )


def main(argv):
    del argv
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    precisions = list(DTYPES) if FLAGS.sweep else FLAGS.mixed_precisions or [FLAGS.mixed_precision]
    jits = [False, True] if FLAGS.sweep else [FLAGS.jit_compile]
    candidates = [
        Candidate(precision, jit, int(per_call))
        for precision in precisions
        for jit in jits
        for per_call in FLAGS.steps_per_execution
    ]
    # Rounds interleave the candidates (and their peers), so a slow spell of a
    # shared machine hits all of them alike. The peak is a capability of the
    # machine, so it keeps its best round.
    peaks = {}
    for _ in range(FLAGS.rounds):
        for candidate in candidates:
            for timed in candidate.timed():
                timed.time()
        for precision in {DTYPES[c.precision] for c in candidates} | {"float32"}:
            peaks[precision] = max(
                peaks.get(precision, 0.0), matmul_peak_gflops(FLAGS.matmul_size, precision)
            )
    results = [c.result(peaks) for c in candidates]
    for r in results:
        r["speedup_over_first"] = r["images_per_second"] / results[0]["images_per_second"]
        print(
            f"{r['model']} {r['mixed_precision']:>14} jit={str(r['jit_compile']):5} "
            f"steps/call={r['steps_per_execution']:<3}: {_rates(r)}, "
            f"{r['achieved_gflops']:7.1f} GFLOP/s = "
            f"{100 * r['fraction_of_peak']:3.0f}% of the float32 matmul peak "
            f"({r['matmul_peak_gflops']:.1f} GFLOP/s; best round "
            f"{100 * r['fraction_of_peak_best']:.0f}%); "
            f"{100 * r['fraction_of_compute_dtype_peak']:3.0f}% of the "
            f"{DTYPES[r['mixed_precision']]} peak ({r['matmul_peak_gflops_compute_dtype']:.1f}); "
            f"{r['speedup_over_first']:.2f}x the first row",
            flush=True,
        )
        if "keras_peer" in r:
            print(
                f"{'':>4} plain-Keras peer{'':>25}: {_rates(r['keras_peer'])}; ours/peer "
                f"{r['over_keras_peer']:.2f}x (medians), per round "
                f"{min(r['over_keras_peer_rounds']):.2f}-{max(r['over_keras_peer_rounds']):.2f}x",
                flush=True,
            )
    print(json.dumps(results if len(results) > 1 else results[0]))


if __name__ == "__main__":
    cli.run(main)
