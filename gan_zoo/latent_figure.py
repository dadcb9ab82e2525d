"""The test digits' 2-D codes from several exports, side by side, each
coloured by class over its prior's density: the AAE paper's Fig. 2 (AAE and
VAE, each with a 2-D Gaussian and a mixture of 10 2-D Gaussians) from four
exports, or any such comparison.

    python -m gan_zoo.latent_figure \\
        --exports=runs/aae_mnist_2d_gaussian/export,runs/aae_mnist_2d_mixture/export,\\
runs/vae_mnist_2d/export,runs/vae_mnist_2d_mixture/export --out=figure2.png

Only the exports are used: the test set (of the first export's dataset, or
--dataset) streams through each one's ``encode`` signature, and its ``z``
(the VAE's posterior mean; --code=representation for the
dimensionality-reduction AAEs' maps) is drawn with the scatter of the
per-epoch pictures (gan_zoo.visualization.latent_scatter), over the density
of the prior named in the export's gan_zoo.json.
"""

from __future__ import annotations

from absl import flags


def check_settings() -> None:
    from gan_zoo import exported, settings
    from gan_zoo.errors import UserError

    FLAGS = flags.FLAGS
    if not FLAGS.exports:
        exported.check_given(None)
    if FLAGS.titles and len(FLAGS.titles) != len(FLAGS.exports):
        raise UserError(
            f"--titles has {len(FLAGS.titles)} titles for {len(FLAGS.exports)} exports; "
            "give one per export, or none."
        )
    settings.check_positive("num", FLAGS.num)
    settings.check_non_negative("extent", FLAGS.extent, " (0 fits each panel)")


def encoded(export, source, code: str, num: int, batch_size: int = 1000):
    """(codes [n, 2], labels [n]) of the first ``num`` test images through
    ``export``'s encode signature; ``code`` names its output."""
    import numpy as np
    import tensorflow as tf

    from gan_zoo.datasets import pipeline
    from gan_zoo.errors import UserError

    encode = export.signature("encode", "latent_figure draws an autoencoder's codes")
    takes_label = "label" in encode.structured_input_signature[1]
    codes, labels = [], []
    for batch in source.dataset("test").take(num).batch(batch_size):
        images = pipeline.model_images(batch["image"], (0.0, 1.0), export.image_shape)
        extra = {"label": tf.cast(batch["label"], tf.int32)} if takes_label else {}
        out = encode(images=images, **extra)
        if code not in out:
            raise UserError(
                f"{export.directory}'s encode returns {', '.join(sorted(out))}, not {code!r}; "
                "choose --code among them."
            )
        codes.append(out[code].numpy())
        labels.append(batch["label"].numpy())
    codes = np.concatenate(codes)
    if codes.shape[1] != 2:
        raise UserError(
            f"{export.directory}'s {code} is {codes.shape[1]}-D; the figure draws 2-D codes."
        )
    return codes, np.concatenate(labels)


def prior_density(export, code: str, extent: float):
    """The density of the prior the export's z was matched to, on the
    scatter's grid; None for the representation or a model without one."""
    from gan_zoo import priors, visualization

    name = export.metadata["config"].get("prior")
    if code != "z" or name is None:
        return None
    prior = priors.target(name, 2)
    return visualization.density_grid(lambda grid: prior.log_prob(grid).numpy(), extent)


def panel(export, source, title: str, code: str = "z", num: int = 10000, extent: float = 4.0):
    """One export's scatter of ``num`` test codes, uint8 [H, W, 3]; ``extent``
    0 fits the axes to the codes."""
    import numpy as np

    from gan_zoo import visualization

    codes, labels = encoded(export, source, code, num)
    extent = extent or float(max(1.0, 1.1 * np.percentile(np.abs(codes), 99.5)))
    return visualization.latent_scatter(
        codes, labels, prior_density(export, code, extent), extent, title=title
    )


def default_title(export) -> str:
    settings = export.metadata["config"]
    prior = settings.get("prior")
    return settings["model"] + (f", {prior}" if prior else "")


def main(argv):
    del argv
    import numpy as np

    from gan_zoo import exported, registry, visualization

    check_settings()
    FLAGS = flags.FLAGS
    exports = [exported.load_export(directory) for directory in FLAGS.exports]
    cfg = exports[0].data_config(FLAGS.dataset, FLAGS.data_dir, max_examples=0)
    source = registry.dataset_loader(cfg.dataset)(cfg)
    titles = FLAGS.titles or [default_title(e) for e in exports]
    panels = [
        panel(e, source, title, FLAGS.code, FLAGS.num, FLAGS.extent)
        for e, title in zip(exports, titles, strict=True)
    ]
    print(f"Wrote {visualization.save_png(np.concatenate(panels, axis=1), FLAGS.out)}")


if __name__ == "__main__":
    from gan_zoo import cli

    # Defined only when run: tests import this module beside other tools
    # whose flags share these names.
    flags.DEFINE_list("exports", [], "Comma-separated export directories, one panel each.")
    flags.DEFINE_list(
        "titles", [], "Comma-separated panel titles (default: each export's model and prior)."
    )
    flags.DEFINE_string("code", "z", "The encode output to draw: z, or representation.")
    flags.DEFINE_integer("num", 10000, "Test images to encode (at most the test set).")
    flags.DEFINE_float(
        "extent", 4.0, "Every panel spans [-extent, extent]^2; 0 fits each panel to its codes."
    )
    flags.DEFINE_string("dataset", None, "The test set's dataset (default: the first export's).")
    flags.DEFINE_string("data_dir", None, "The dataset's files (default: the first export's).")
    flags.DEFINE_string("out", "latent_figure.png", "Output PNG path.")
    cli.run(main, check=check_settings)
