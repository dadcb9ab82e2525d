"""Draw samples from an exported model into a PNG grid, using only the export.

python -m gan_zoo.sample --export=runs/gan_digits/export --num=64 --seed=1 --out=grid.png
python -m gan_zoo.sample --export=runs/gan_mnist/best_export --nearest --num=30 --out=figure2.png

--nearest draws the GAN paper's Figure 2: rows of --cols samples, each row
ending with the training example nearest (squared pixel distance, as the
authors' show_samples_*_paper.py) to the sample beside it, outlined in
yellow. The training split of the export's dataset (its --dataset,
--data_dir, --image_size, --paper_split and --max_examples, or --dataset and
--data_dir given here) streams past in batches of --nearest_batch images,
so any dataset fits in memory. Samples are compared at the data's size, in
[0, 1], or for a model trained on contrast-normalised data (gan_cifar10_*)
after that normalisation, where its neighbours are shown normalised too.
"""

from absl import flags

from gan_zoo import cli

flags.DEFINE_string("export", None, "An export directory written by train.py.")
flags.DEFINE_integer("num", 64, "Number of images (with --nearest: samples, a multiple of --cols).")
flags.DEFINE_integer("seed", 0, "Seed of the noise; the same seed gives the same images.")
flags.DEFINE_string("out", "samples.png", "Output PNG path.")
flags.DEFINE_integer("scale", 2, "Upscale factor of the PNG.")
flags.DEFINE_bool(
    "nearest",
    False,
    "The GAN paper's Figure 2: rows of --cols samples, each ending with the training "
    "example nearest to the row's last sample, outlined in yellow.",
)
flags.DEFINE_integer("cols", 0, "Samples per row (0 = a square grid; 5 with --nearest).")
flags.DEFINE_string("dataset", None, "--nearest: the training set (default: the export's).")
flags.DEFINE_string("data_dir", None, "--nearest: its files (default: the export's --data_dir).")
flags.DEFINE_integer("nearest_batch", 1000, "--nearest: training images per streamed batch.")
FLAGS = flags.FLAGS


def columns() -> int:
    """Samples per row."""
    return FLAGS.cols or (5 if FLAGS.nearest else 0)


def check_settings() -> None:
    from gan_zoo import exported, registry, settings
    from gan_zoo.errors import UserError

    for name in ("num", "scale", "nearest_batch"):
        settings.check_positive(name, FLAGS[name].value)
    settings.check_non_negative("cols", FLAGS.cols, " (0 = a square grid)")
    if FLAGS.nearest and FLAGS.num % columns():
        raise UserError(
            f"--nearest draws rows of --cols={columns()} samples; make --num={FLAGS.num} "
            f"a multiple of it (e.g. --num={columns() * max(1, FLAGS.num // columns())})."
        )
    if not FLAGS.nearest and (FLAGS.dataset or FLAGS.data_dir):
        raise UserError("--dataset and --data_dir choose the training set of --nearest; add it.")
    if FLAGS.dataset:
        registry.dataset_loader(FLAGS.dataset)
    exported.check_given(FLAGS.export)


def main(argv):
    del argv
    from gan_zoo import exported, visualization

    check_settings()
    export = exported.load_export(FLAGS.export)
    images, _ = export.sample(FLAGS.num, FLAGS.seed)
    if FLAGS.nearest:
        grid, found = nearest_figure(export, images)
        for row, (index, distance) in enumerate(zip(found["index"], found["distance"])):
            print(f"row {row}: training example {index}, squared distance {distance:.2f}")
    else:
        grid = visualization.image_grid(images, cols=columns() or None)
    print(f"Wrote {visualization.save_png(grid, FLAGS.out, scale=FLAGS.scale)}")


def nearest_figure(export, images):
    """(Figure 2's picture, nearest.nearest's result for each row's last sample)."""
    import numpy as np

    from gan_zoo import pixels, registry, visualization
    from gan_zoo.errors import UserError
    from gan_zoo.evaluation import nearest, protocol

    # The split the model trained on, read as training read it; another
    # dataset's whole training split.
    trained_on = export.metadata["config"].get("dataset")
    other = (
        dict(paper_split=False, max_examples=0) if FLAGS.dataset not in (None, trained_on) else {}
    )
    cfg = export.data_config(FLAGS.dataset, FLAGS.data_dir, **other)
    source = registry.dataset_loader(cfg.dataset)(cfg)
    if images.shape[-1] != source.image_shape[-1]:
        raise UserError(
            f"the export draws {images.shape[-1]}-channel images and {cfg.dataset!r} has "
            f"{source.image_shape[-1]}; pass the --dataset it was trained on."
        )
    images = protocol.at_data_size(images, source.image_shape)
    cols = columns()
    rows = images.reshape((-1, cols) + images.shape[1:])
    space = nearest.comparison_space(export.metadata["config"])
    found = nearest.nearest(
        rows[:, -1],
        nearest.training_batches(source, "train", FLAGS.nearest_batch, cfg.max_examples),
        space=space,
        keep_images=True,
    )
    neighbours = found["image"]
    if space is not None:  # shown as the samples are: normalised, then contrast-stretched
        neighbours = np.asarray(pixels.contrast_display(space(neighbours)))
    cells = np.concatenate([rows, neighbours[:, None]], axis=1).reshape((-1,) + images.shape[1:])
    grid = visualization.image_grid(cells, cols=cols + 1)
    outlined = [(r + 1) * (cols + 1) - 1 for r in range(len(rows))]
    return visualization.outline_cells(grid, outlined, images.shape[1:3], cols + 1), found


if __name__ == "__main__":
    cli.run(main, check=check_settings)
