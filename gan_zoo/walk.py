"""Walks in the latent space of an exported generator (DCGAN paper, Sec. 6.1 and Fig. 4).

    python -m gan_zoo.walk --export=runs/dcgan_mnist/export --num_walks=8 --steps=10 --out=walk.png

Each walk starts at a random code from the model's own prior (the codes of
``sample(num_walks * points, seed)``) and passes through --points of them in
turn, with images evenly spaced in between. Smooth transitions, rather than
sudden jumps, suggest the model learned relevant representations instead of
memorising; the paper's Fig. 4 shows walks through 9 random points.

Writes a PNG grid with one row per walk (left to right along the walk) and,
beside it with the same basename, an animated GIF: frame t shows step t of
every walk, tiled like the rows of the PNG, going forth and back.

--method=slerp (default) follows the great circle between two codes with the
norm interpolated linearly (White 2016); --method=lerp takes the straight
line, whose midpoints have atypically small norms. See gan_zoo/latent.py.
"""

from __future__ import annotations

import os

from absl import flags

from gan_zoo import cli
from gan_zoo.latent import METHODS

flags.DEFINE_string("export", None, "An export directory written by train.py.")
flags.DEFINE_integer("num_walks", 8, "Number of walks (rows of the PNG).")
flags.DEFINE_integer("points", 2, "Random codes each walk passes through, ends included (>= 2).")
flags.DEFINE_integer("steps", 10, "Images from one such code to the next, both included (>= 2).")
flags.DEFINE_string("method", "slerp", f"Interpolation: {' | '.join(METHODS)}.")
flags.DEFINE_integer("seed", 0, "Seed of the random codes (as in gan_zoo.sample).")
flags.DEFINE_string("out", "walk.png", "Output PNG path; the GIF goes beside it as <name>.gif.")
flags.DEFINE_integer("scale", 2, "Upscale factor of the PNG and GIF.")
flags.DEFINE_integer("frame_ms", 120, "GIF: milliseconds per frame.")
FLAGS = flags.FLAGS


def check_settings() -> None:
    from gan_zoo import exported, settings
    from gan_zoo.errors import UserError

    for name in ("num_walks", "steps", "scale", "frame_ms"):
        settings.check_positive(name, FLAGS[name].value)
    for name in ("points", "steps"):
        if FLAGS[name].value < 2:
            raise UserError(f"--{name}={FLAGS[name].value} must be >= 2: a walk needs two ends.")
    settings.check_choice("method", FLAGS.method, METHODS)
    exported.check_given(FLAGS.export)


def main(argv):
    del argv
    import numpy as np

    from gan_zoo import exported, latent, visualization

    check_settings()
    model = exported.load_export(FLAGS.export)

    _, anchors = model.sample(FLAGS.num_walks * FLAGS.points, FLAGS.seed)
    anchors = anchors.reshape(FLAGS.num_walks, FLAGS.points, -1)
    paths = np.stack([latent.walk(a, FLAGS.steps - 2, FLAGS.method) for a in anchors])
    num_walks, length, latent_dim = paths.shape
    images = model.generate(paths.reshape(-1, latent_dim))
    images = images.reshape((num_walks, length) + images.shape[1:])

    grid = visualization.image_grid(images.reshape((-1,) + images.shape[2:]), cols=length)
    png = visualization.save_png(grid, FLAGS.out, scale=FLAGS.scale)
    print(f"Wrote {png} ({num_walks} walks of {length} images, {FLAGS.method})")

    cols = int(np.ceil(np.sqrt(num_walks)))
    frames = [visualization.image_grid(images[:, t], cols=cols) for t in range(length)]
    # Forth then back, without repeating the ends, so the loop has no jump.
    frames = frames + frames[-2:0:-1]
    gif = visualization.save_frames_gif(
        frames,
        os.path.splitext(FLAGS.out)[0] + ".gif",
        duration_ms=FLAGS.frame_ms,
        scale=FLAGS.scale,
    )
    print(f"Wrote {gif} ({len(frames)} frames)")


if __name__ == "__main__":
    cli.run(main, check=check_settings)
