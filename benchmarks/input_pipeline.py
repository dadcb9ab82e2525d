"""How fast the LSUN input pipeline delivers training batches.

    python benchmarks/input_pipeline.py                         # a generated LMDB
    python benchmarks/input_pipeline.py --data_dir=/data/lsun   # the real export
    python benchmarks/input_pipeline.py --feed=20000            # can it feed 20k images/s?
    python benchmarks/input_pipeline.py --prepared              # after gan_zoo.prepare_lsun

Without --data_dir it writes an LMDB of --records WebP images shaped like the
official LSUN export (short side 256, quality 75, smooth scenes with texture).
It measures the whole pipeline train.py uses (LMDB read, parallel decode,
centre crop and resize to --image_size, shuffle, batch, scale, prefetch) on
every core; the rate per core times a GPU machine's core count says roughly
whether it keeps up with that GPU (decoding spreads over cores; the LMDB
reader is one thread, measured at 7,700 records/s). The last line of stdout
is one JSON object.
"""

import io
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from gan_zoo import cli  # noqa: E402

flags.DEFINE_string("data_dir", "", "An LSUN LMDB (or its parent); empty = generate one.")
flags.DEFINE_string("lsun_category", "bedroom", "LSUN category to read from --data_dir.")
flags.DEFINE_integer("records", 3000, "Images in the generated LMDB.")
flags.DEFINE_integer("image_size", 64, "Side of the training images.")
flags.DEFINE_integer("batch_size", 64, "Images per batch.")
flags.DEFINE_integer("passes", 3, "Timed passes over the records (after a first one).")
flags.DEFINE_float("feed", 0.0, "A training rate (images/s) to compare the pipeline with.")
flags.DEFINE_bool(
    "prepared",
    False,
    "Decode the export once first (gan_zoo.prepare_lsun) and measure the stream of the "
    "prepared file.",
)
FLAGS = flags.FLAGS


def write_lsun_like_lmdb(path: str, records: int, seed: int = 0) -> str:
    """An LMDB of ``records`` WebP scenes laid out as LSUN's export (key -> bytes)."""
    import lmdb
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    os.makedirs(path, exist_ok=True)
    env = lmdb.open(path, map_size=1 << 31)
    with env.begin(write=True) as txn:
        for i in range(records):
            width = int(rng.integers(256, 400))
            coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
            scene = np.asarray(
                Image.fromarray(coarse).resize((width, 256), Image.BICUBIC), np.float32
            )
            scene += rng.normal(0, 12, scene.shape)  # texture, so WebP has work to do
            buffer = io.BytesIO()
            Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8)).save(
                buffer, "WEBP", quality=75
            )
            txn.put(f"{i:012x}".encode(), buffer.getvalue())
    env.close()
    return path


def main(argv):
    del argv
    import tensorflow as tf

    from gan_zoo import registry
    from gan_zoo.datasets import lsun, pipeline

    data_dir = FLAGS.data_dir
    if not data_dir:
        data_dir = write_lsun_like_lmdb(
            os.path.join(tempfile.mkdtemp(), f"{FLAGS.lsun_category}_train_lmdb"), FLAGS.records
        )
    cfg = registry.resolve(
        {
            "model": "dcgan",
            "dataset": "lsun",
            "data_dir": data_dir,
            "lsun_category": FLAGS.lsun_category,
            "image_size": FLAGS.image_size,
            "workdir": "/tmp/unused",
        }
    )
    prepare_rate = None
    if FLAGS.prepared:
        start = time.perf_counter()
        lsun.prepare(cfg.run)
        prepare_rate = FLAGS.records / (time.perf_counter() - start)
    source = lsun.load(cfg.run, prepared=FLAGS.prepared)

    # Streaming, as for the real LSUN (36 GB at 64x64: never cached); a
    # generated LMDB would otherwise be served from memory after one pass.
    pipeline.CACHE_LIMIT_BYTES = 0
    dataset, steps = pipeline.training_dataset(
        source, "train", FLAGS.batch_size, (-1.0, 1.0), seed=0, image_shape=source.image_shape
    )
    batches = iter(dataset)
    for _ in range(steps):  # fills the shuffle buffer, which may hold every record
        next(batches)
    start = time.perf_counter()
    for _ in range(FLAGS.passes * steps):
        batch = next(batches)
    float(tf.reduce_sum(batch["image"]))
    rate = FLAGS.passes * steps * FLAGS.batch_size / (time.perf_counter() - start)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result = {
        "records": source.num_examples("train"),
        "image_size": FLAGS.image_size,
        "batch_size": FLAGS.batch_size,
        "cores": cores,
        "pipeline_images_per_second": rate,
        "per_core": rate / cores,
        "generated": not FLAGS.data_dir,
        "prepared": FLAGS.prepared,
        "prepare_images_per_second": prepare_rate,
    }
    print(f"whole pipeline on {cores} cores: {rate:.0f} images/s ({rate / cores:.0f} per core)")
    if FLAGS.feed:
        result["fraction_of_feed"] = rate / FLAGS.feed
        result["cores_to_feed"] = FLAGS.feed / (rate / cores)
        print(
            f"feeding {FLAGS.feed:.0f} images/s takes about {result['cores_to_feed']:.0f} "
            "cores at this per-core rate"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    cli.run(main)
