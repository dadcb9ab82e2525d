"""Shared test helpers: tiny configs, generated IDX files, subprocess runs."""

import dataclasses
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(workdir, **overrides):
    """The real default config, shrunk to a couple of small steps."""
    from gan_zoo import config

    values = dict(workdir=str(workdir), epochs=1, steps_per_epoch=2, batch_size=8,
                  num_samples=4, log_every_steps=1)
    values.update(overrides)
    return config.resolve(values)


def write_idx(path, array):
    """Writes ``array`` in LeCun's IDX format (gzipped if path ends in .gz)."""
    array = np.asarray(array)
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def fake_mnist_dir(directory, n_train=120, n_test=40, gz=True, seed=0):
    """Writes the four MNIST IDX files with random digits into ``directory``."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte{suffix}"),
                  rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte{suffix}"),
                  rng.integers(0, 10, n, dtype=np.uint8))
    return directory


def run_script(*args, cwd=ROOT, timeout=300):
    """Runs ``python <args>`` in a subprocess and returns the CompletedProcess."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def run_scripts(commands: dict, timeout=300) -> dict:
    """Runs ``python <args>`` for every name -> args of ``commands`` at once and
    returns name -> CompletedProcess. Each process spends most of its few
    seconds importing TensorFlow, which overlaps well."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    processes = {name: subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for name, args in commands.items()}
    results = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=timeout)
        results[name] = subprocess.CompletedProcess(commands[name], process.returncode, out, err)
    return results


@pytest.fixture
def tiny(tmp_path):
    def make(**overrides):
        return tiny_config(tmp_path / "run", **overrides)
    return make


def replace(cfg, **changes):
    return dataclasses.replace(cfg, **changes)
