"""Draw samples from an exported model into a PNG grid, using only the export.

python -m gan_zoo.sample --export=runs/gan_digits/export --num=64 --seed=1 --out=grid.png
"""

from absl import flags

from gan_zoo import cli

flags.DEFINE_string("export", None, "An export directory written by train.py.")
flags.DEFINE_integer("num", 64, "Number of images.")
flags.DEFINE_integer("seed", 0, "Seed of the noise; the same seed gives the same images.")
flags.DEFINE_string("out", "samples.png", "Output PNG path.")
flags.DEFINE_integer("scale", 2, "Upscale factor of the PNG.")
FLAGS = flags.FLAGS


def check_settings() -> None:
    from gan_zoo import config, exported

    config.check_positive("num", FLAGS.num)
    config.check_positive("scale", FLAGS.scale)
    exported.check_given(FLAGS.export)


def main(argv):
    del argv
    from gan_zoo import exported, visualization

    check_settings()
    export = exported.load_export(FLAGS.export)
    images, _ = export.sample(FLAGS.num, FLAGS.seed)
    grid = visualization.image_grid(images)
    print(f"Wrote {visualization.save_png(grid, FLAGS.out, scale=FLAGS.scale)}")


if __name__ == "__main__":
    cli.run(main, check=check_settings)
