"""Vector arithmetic on codes of an exported generator (DCGAN paper, Sec. 6.3 and Fig. 7).

The paper's "smiling woman - neutral woman + neutral man = smiling man":
each concept is the mean code of a few exemplar images (single codes were
unstable), and the code A - B + C is decoded, together with slightly
perturbed copies of it.

1. Look at numbered samples and pick exemplars. The indices refer to the
   images of ``sample(num, seed)``, i.e. of

       python -m gan_zoo.sample --export=E --seed=S --num=64

   numbered row by row from 0 at the top left (the grid has ceil(sqrt(num))
   columns). ``--list`` writes that same grid with the numbers drawn on it:

       python -m gan_zoo.arithmetic --export=E --seed=S --num=64 --list --out=numbered.png

2. Do the arithmetic with the same --seed and --num:

       python -m gan_zoo.arithmetic --export=E --seed=S --num=64 --a=3,17,22 --b=5,9,40 --c=1,2,8

Layout of the output grid (--out):

    row 1:  exemplars of A (labelled #index) ...  | mean A  (decoded mean code)
    row 2:  exemplars of B ...                     | mean B
    row 3:  exemplars of C ...                     | mean C
    row 4:  variations: A - B + C plus noise ...   | A-B+C   (decoded exactly)

so the last column reads top to bottom as the equation. The variations add
uniform noise of half-width --perturb to the result code, as in the paper's
Fig. 7 (scale 0.25); --variations counts the exact result too.
"""

from __future__ import annotations

from absl import flags

from gan_zoo import cli

flags.DEFINE_string("export", None, "An export directory written by train.py.")
flags.DEFINE_integer(
    "seed", 0, "Seed of the samples the indices refer to (as gan_zoo.sample --seed)."
)
flags.DEFINE_integer(
    "num", 64, "Number of samples the indices refer to (as in gan_zoo.sample --num)."
)
_INDEX_HELP = (
    "comma-separated indices of sample(num, seed), row by row from 0 at the top left "
    "of `gan_zoo.sample --seed=S --num=N`'s grid (or of --list's numbered grid)"
)
flags.DEFINE_string("a", None, f"Exemplars of concept A: {_INDEX_HELP}.")
flags.DEFINE_string("b", None, f"Exemplars of concept B (subtracted): {_INDEX_HELP}.")
flags.DEFINE_string("c", None, f"Exemplars of concept C (added): {_INDEX_HELP}.")
flags.DEFINE_bool("list", False, "Only write the sample grid with each image's index drawn on it.")
flags.DEFINE_float("perturb", 0.25, "Scale of the noise added to A - B + C for the variations.")
flags.DEFINE_string(
    "perturb_noise",
    "uniform",
    "Noise of the variations: uniform (in +-perturb, as the paper) | gaussian "
    "(standard deviation perturb).",
)
flags.DEFINE_integer("variations", 8, "Images of the result, the first without noise.")
flags.DEFINE_string("out", "arith.png", "Output PNG path.")
flags.DEFINE_integer("scale", 2, "Upscale factor of the PNG.")
FLAGS = flags.FLAGS

_NOISES = ("uniform", "gaussian")
_CONCEPTS = ("a", "b", "c")


def check_settings() -> dict[str, list[int]]:
    """Validates the flags; returns the chosen exemplars of each concept
    (none with --list)."""
    from gan_zoo import exported, settings
    from gan_zoo.errors import UserError

    for name in ("num", "variations", "scale"):
        settings.check_positive(name, FLAGS[name].value)
    if FLAGS.perturb < 0:
        raise UserError(f"--perturb={FLAGS.perturb} must be >= 0.")
    settings.check_choice("perturb_noise", FLAGS.perturb_noise, _NOISES)
    exported.check_given(FLAGS.export)
    if FLAGS.list:
        return {}
    return {k: exported.parse_indices(k, FLAGS[k].value, FLAGS.num) for k in _CONCEPTS}


def main(argv):
    del argv
    import numpy as np

    from gan_zoo import exported, latent, visualization

    chosen = check_settings()
    model = exported.load_export(FLAGS.export)
    samples, zs = model.sample(FLAGS.num, FLAGS.seed)

    if FLAGS.list:
        picture = visualization.labelled_grid(
            samples, [str(i) for i in range(len(samples))], scale=FLAGS.scale
        )
        path = visualization.save_png(picture, FLAGS.out)
        print(
            f"Wrote {path} ({FLAGS.num} samples of --seed={FLAGS.seed}, numbered row by row "
            "from 0; pass the numbers as --a, --b, --c with the same --seed and --num)"
        )
        return

    means = [latent.concept_vector(zs, chosen[k]) for k in _CONCEPTS]
    result = latent.arithmetic(*means)
    codes = latent.perturb(
        result, FLAGS.variations, FLAGS.perturb, rng=FLAGS.seed, distribution=FLAGS.perturb_noise
    )
    mean_images = model.generate(np.stack(means))
    result_images = model.generate(codes)

    cols = max(max(len(v) for v in chosen.values()), FLAGS.variations - 1) + 1
    blank = np.zeros_like(samples[0])
    cells, labels = [], []
    for row, key in enumerate(_CONCEPTS):
        members = chosen[key]
        cells += [samples[i] for i in members] + [blank] * (cols - 1 - len(members))
        labels += [f"#{i}" for i in members] + [""] * (cols - 1 - len(members))
        cells.append(mean_images[row])
        labels.append(f"mean {key.upper()}")
    variations = list(result_images[1:])
    cells += variations + [blank] * (cols - 1 - len(variations)) + [result_images[0]]
    labels += [""] * (cols - 1) + ["A-B+C"]
    picture = visualization.labelled_grid(np.stack(cells), labels, cols=cols, scale=FLAGS.scale)
    path = visualization.save_png(picture, FLAGS.out)
    for key in _CONCEPTS:
        print(f"{key.upper()} = mean of samples {', '.join(map(str, chosen[key]))}")
    print(
        f"Wrote {path} (rows A, B, C: exemplars, then their mean decoded in the last column; "
        f"row 4: {len(variations)} variations of A - B + C, the exact result last)"
    )


if __name__ == "__main__":
    cli.run(main, check=check_settings)
