"""Train the MNIST classifier behind the classifier-FID / KID / score.

python -m gan_zoo.train_classifier --data_dir=../shared/data/mnist
# writes gan_zoo/data/mnist_classifier.weights.h5 (the file the package ships)
"""

from absl import flags

from gan_zoo import cli

flags.DEFINE_string("dataset", "mnist", "Labelled 28x28x1 dataset: mnist or digits.")
flags.DEFINE_string("data_dir", "", "MNIST's four IDX files (or a tfds data dir).")
flags.DEFINE_integer("epochs", 6, "Passes over the training set.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation and data order.")
flags.DEFINE_string("out", None, "Weights file to write (default: the package's own).")
FLAGS = flags.FLAGS


def check_settings():
    """Validates the flags; returns the data's run settings."""
    from gan_zoo import registry, settings

    settings.check_positive("epochs", FLAGS.epochs)
    settings.check_choice("dataset", FLAGS.dataset, ("mnist", "digits"))
    return registry.resolve({"dataset": FLAGS.dataset, "data_dir": FLAGS.data_dir}).run


def main(argv):
    del argv
    from gan_zoo import registry
    from gan_zoo.evaluation import classifier

    cfg = check_settings()
    source = registry.dataset_loader(FLAGS.dataset)(cfg)
    model, accuracy = classifier.train(source, epochs=FLAGS.epochs, seed=FLAGS.seed)
    out = FLAGS.out or classifier.WEIGHTS
    classifier.save_weights(model, out)
    print(
        f"Test accuracy {accuracy:.4f} on {source.num_examples('test')} test images; "
        f"weights written to {out}."
    )


if __name__ == "__main__":
    cli.run(main, check=check_settings)
