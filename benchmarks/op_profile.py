"""Where a training step's time goes: TensorFlow's profiler over a few steps of
``fit``, summarised by op type (self time, share of the total).

    pip install xprof    # the profiler's converters; not a project dependency
    python benchmarks/op_profile.py --model=dcgan --image_size=64 --batch_size=64 --steps=5

Takes every flag of benchmarks/throughput.py. The raw trace stays in --logdir
for TensorBoard's Profile tab. The last line of stdout is one JSON object.
"""

import collections
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import throughput  # noqa: E402  (defines the shared flags)
from absl import flags  # noqa: E402

from gan_zoo import cli  # noqa: E402
from gan_zoo.errors import UserError  # noqa: E402

flags.DEFINE_string("logdir", "/tmp/gan_zoo_profile", "Where the profiler writes its trace.")
flags.DEFINE_integer("top", 12, "Op types to print.")
FLAGS = flags.FLAGS


def op_type_times(xplane: str) -> dict:
    """Op type -> self time in microseconds, host and device, from one trace."""
    try:
        from xprof.convert import raw_to_tool_data
    except ImportError:
        raise UserError(
            "benchmarks/op_profile.py needs the profiler's converters: pip install xprof"
        ) from None
    data, _ = raw_to_tool_data.xspace_to_tool_data([xplane], "framework_op_stats", {})
    table = json.loads(data)
    table = table[0] if isinstance(table, list) else table
    columns = [c["id"] for c in table["cols"]]
    times = collections.Counter()
    for row in table["rows"]:
        values = dict(zip(columns, (cell.get("v") if cell else None for cell in row["c"])))
        if values.get("type") in (None, "IDLE"):
            continue
        times[values["type"]] += float(values["total_self_time"])
    return dict(times)


def main(argv):
    del argv
    import tensorflow as tf

    candidate = throughput.Candidate(
        FLAGS.mixed_precision, FLAGS.jit_compile, int(FLAGS.steps_per_execution[0])
    )  # traced already
    cfg, steps = candidate.cfg, candidate.steps
    tf.profiler.experimental.start(FLAGS.logdir)
    candidate.fit(steps)
    tf.profiler.experimental.stop()
    newest = max(
        glob.glob(os.path.join(FLAGS.logdir, "plugins", "profile", "*", "*.xplane.pb")),
        key=os.path.getmtime,
    )
    times = op_type_times(newest)
    total = sum(times.values())
    ranked = sorted(times.items(), key=lambda item: -item[1])
    print(
        f"{cfg.model} {FLAGS.mixed_precision} jit={FLAGS.jit_compile}: "
        f"{total / steps / 1e3:.1f} ms of op time per step"
    )
    for name, micros in ranked[: FLAGS.top]:
        print(f"  {name:32} {100 * micros / total:5.1f}%  {micros / steps / 1e3:8.2f} ms/step")
    print(
        json.dumps(
            {
                "model": cfg.model,
                "mixed_precision": FLAGS.mixed_precision,
                "jit_compile": FLAGS.jit_compile,
                "steps": steps,
                "ms_per_step": total / steps / 1e3,
                "share_by_op_type": {k: v / total for k, v in ranked[: FLAGS.top]},
                "trace": newest,
            }
        )
    )


if __name__ == "__main__":
    cli.run(main)
