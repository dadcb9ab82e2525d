"""Decode an LSUN export once, so training streams images without decoding them.

    python -m gan_zoo.prepare_lsun --data_dir=~/data/lsun --lsun_category=bedroom --image_size=64

Writes <category>_train_<size>.u8 (uint8 images, back to back) and its .json
beside <category>_train_lmdb; `train.py --dataset=lsun` at that image size then
reads them instead of the LMDB (36 GB for the 3 million bedrooms at 64x64).
"""

from absl import flags

from gan_zoo import cli

flags.DEFINE_string("data_dir", "", "The LSUN LMDB directory, or the directory holding it.")
flags.DEFINE_string("lsun_category", "bedroom", "LSUN scene category.")
flags.DEFINE_integer("image_size", 64, "Side of the decoded, centre-cropped images.")
FLAGS = flags.FLAGS


def check_settings():
    """Validates the flags; returns the run settings the LSUN reader takes."""
    from gan_zoo import registry

    return registry.resolve(
        {
            "model": "dcgan",
            "dataset": "lsun",
            "data_dir": FLAGS.data_dir,
            "lsun_category": FLAGS.lsun_category,
            "image_size": FLAGS.image_size,
            "workdir": "/tmp/unused",
        }
    )


def main(argv):
    del argv
    import time

    from gan_zoo.datasets import lsun

    cfg = check_settings()
    start = time.perf_counter()
    path = lsun.prepare(cfg.run)
    print(f"Wrote {path} in {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    cli.run(main, check=check_settings)
