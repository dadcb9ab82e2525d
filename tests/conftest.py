"""Shared test helpers: tiny configs, generated IDX files, subprocess runs."""

import atexit
import gc
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(workdir, **overrides):
    """The real default config, shrunk to a couple of small steps. Without the
    final SavedModel (export=True where a test reads it): writing one costs
    more CPU than the tiny training it would follow. Eager steps
    (--run_eagerly): tracing the step costs 1.5-2.5 CPU-s, more than running
    two tiny steps eagerly (Keras still groups them into calls of
    --steps_per_execution). Tests of the traced step itself (XLA,
    strategies, retracing, AutoGraph, the fit of golden_steps.py) pass
    run_eagerly=False."""
    from gan_zoo import registry

    values = dict(
        workdir=str(workdir),
        epochs=1,
        steps_per_epoch=2,
        batch_size=8,
        num_samples=4,
        log_every_steps=1,
        export=False,
        run_eagerly=True,
    )
    values.update(overrides)
    return registry.resolve(values)


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
        write_idx(
            os.path.join(directory, f"{prefix}-images-idx3-ubyte{suffix}"),
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(
            os.path.join(directory, f"{prefix}-labels-idx1-ubyte{suffix}"),
            rng.integers(0, 10, n, dtype=np.uint8),
        )
    return directory


class _ForkServer:
    """Client of tests/forkserver.py: starts commands as forks of one
    process that has imported TensorFlow already (see there for why and what a
    fork cannot show)."""

    def __init__(self, path):
        deadline = time.time() + 300  # the server imports TensorFlow first
        while True:
            self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.socket.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.socket.close()
                if time.time() > deadline:
                    raise RuntimeError("tests/forkserver.py did not start") from None
                time.sleep(0.05)
        self.directory = tempfile.mkdtemp(prefix="gan_zoo_forks_")
        self.lock, self.children, self.count = threading.Lock(), {}, 0
        threading.Thread(target=self._read_replies, daemon=True).start()
        atexit.register(shutil.rmtree, self.directory, True)

    def _read_replies(self):
        for line in self.socket.makefile("r"):
            reply = json.loads(line)
            child = self.children[reply["id"]]
            if "pid" in reply:
                child.pid = reply["pid"]
                child.started.set()
            else:
                child.returncode = reply["returncode"]
                child.done.set()

    def start(self, args, env):
        with self.lock:
            self.count += 1
            child = _Child(args, os.path.join(self.directory, str(self.count)))
            self.children[self.count] = child
            request = {
                "id": self.count,
                "argv": list(args),
                "cwd": ROOT,
                "env": env,
                "out": child.out,
                "err": child.err,
            }
            self.socket.sendall((json.dumps(request) + "\n").encode())
        if not child.started.wait(60):
            raise RuntimeError("tests/forkserver.py did not start a command")
        return child


def _start_fork_server() -> str:
    """Starts tests/forkserver.py; returns the socket it will listen on."""
    directory = tempfile.mkdtemp(prefix="gan_zoo_forkserver_")
    path = os.path.join(directory, "socket")
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "forkserver.py"), path],
        cwd=ROOT,
        env=_command_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    atexit.register(shutil.rmtree, directory, True)
    atexit.register(process.kill)
    return path


def pytest_configure(config):
    # Under xdist the controller starts the one fork server that all its
    # workers share (a server's TensorFlow import costs ~9 CPU-s); its import
    # overlaps the workers' own while they collect.
    if not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None):
        os.environ[_FORK_SERVER] = _start_fork_server()


class _Child:
    """A forked command, with the parts of subprocess.Popen the tests use."""

    def __init__(self, args, stem):
        self.args, self.out, self.err = args, stem + ".out", stem + ".err"
        self.started, self.done = threading.Event(), threading.Event()
        self.pid = self.returncode = None

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout=None):
        if not self.done.wait(timeout):
            self.kill()
            raise subprocess.TimeoutExpired(self.args, timeout)
        with open(self.out) as out, open(self.err) as err:
            return out.read(), err.read()


_server = None
_FORK_SERVER = "GAN_ZOO_FORK_SERVER"  # its socket, set by the xdist controller


def _command_env(**extra):
    return dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **extra)


def start_script(*args, fresh=False, env=None):
    """Starts ``python <args>`` in the repository root (Popen-like), with
    ``env`` added to the environment; ``fresh``: a real new interpreter instead
    of a fork of tests/forkserver.py, for what only a real start-up shows
    (TensorFlow's stderr noise kept off the user's screen)."""
    global _server
    if fresh:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=_command_env(**env or {}),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    if _server is None:
        _server = _ForkServer(os.environ.get(_FORK_SERVER) or _start_fork_server())
    return _server.start(args, _command_env(**env or {}))


def run_scripts(commands: dict, timeout=300, fresh=False) -> dict:
    """Runs ``python <args>`` for every name -> args of ``commands`` at once and
    returns name -> CompletedProcess."""
    started = {name: start_script(*args, fresh=fresh) for name, args in commands.items()}
    results = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=timeout)
        results[name] = subprocess.CompletedProcess(commands[name], process.returncode, out, err)
    return results


def run_script(*args, timeout=300, fresh=False):
    """Runs ``python <args>`` and returns the CompletedProcess."""
    return run_scripts({"": args}, timeout, fresh)[""]


def pytest_collection_finish(session):
    """Everything alive after collection (TensorFlow, Keras, gan_zoo and the
    test modules) stays alive to the end: frozen, it is no longer walked by
    every full garbage collection, each of which cost ~0.5 CPU-s in a worker."""
    gc.collect()
    gc.freeze()


@pytest.fixture
def tiny(tmp_path):
    def make(**overrides):
        return tiny_config(tmp_path / "run", **overrides)

    return make


def replace(cfg, **changes):
    return cfg.replace(**changes)
