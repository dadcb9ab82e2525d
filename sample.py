"""Draw samples from an exported model into a PNG grid, using only the export.

    python sample.py --export=runs/gan_digits/export --num=64 --seed=1 --out=grid.png
"""

import os

from gan_zoo import cli
from absl import flags

flags.DEFINE_string("export", None, "An export directory written by train.py.")
flags.DEFINE_integer("num", 64, "Number of images.")
flags.DEFINE_integer("seed", 0, "Seed of the noise; the same seed gives the same images.")
flags.DEFINE_string("out", "samples.png", "Output PNG path.")
flags.DEFINE_integer("scale", 2, "Upscale factor of the PNG.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import tensorflow as tf

    from gan_zoo import visualization
    from gan_zoo.errors import UserError

    if not FLAGS.export:
        raise UserError("pass --export=<workdir>/export (written by train.py).")
    if not os.path.isfile(os.path.join(FLAGS.export, "saved_model.pb")):
        raise UserError(f"{FLAGS.export} is not a SavedModel export (no saved_model.pb); "
                        "pass the export/ directory of a train.py run.")
    if FLAGS.num <= 0:
        raise UserError(f"--num={FLAGS.num} must be > 0.")
    loaded = tf.saved_model.load(FLAGS.export)
    if "sample" not in loaded.signatures:
        raise UserError(f"{FLAGS.export} has no 'sample' signature; it is not a generator export.")
    out = loaded.signatures["sample"](num=tf.constant(FLAGS.num, tf.int32),
                                      seed=tf.constant(FLAGS.seed, tf.int64))
    grid = visualization.image_grid(out["images"].numpy())
    print(f"Wrote {visualization.save_png(grid, FLAGS.out, scale=FLAGS.scale)}")


if __name__ == "__main__":
    cli.run(main)
