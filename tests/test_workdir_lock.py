"""One live run per workdir: a second run is refused naming the first; a lock
left by a dead process is taken over."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from conftest import ROOT, tiny_config

from gan_zoo import training, workdir_lock
from gan_zoo.errors import UserError

# Holds the workdir's lock, as a live run does, until killed.
_HOLDER = (
    "import sys, time\n"
    "from gan_zoo import workdir_lock\n"
    "with workdir_lock.hold(sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(300)\n"
)


def _start_holder(workdir):
    os.makedirs(workdir, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(workdir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "held\n"
    return process


def test_a_second_run_or_export_is_refused_naming_the_live_one_and_deletes_nothing(tmp_path):
    w = tmp_path / "w"
    training.run(tiny_config(w, export=True), verbose=0)
    before = sorted(os.listdir(w / "checkpoints"))
    holder = _start_holder(w)
    try:
        for overwrite in (False, True):  # --overwrite must not delete a live run's outputs
            with pytest.raises(UserError) as caught:
                training.run(tiny_config(w, epochs=2, export=True), verbose=0, overwrite=overwrite)
            message = str(caught.value)
            assert f"pid {holder.pid} on host {socket.gethostname()}" in message
            assert "\n" not in message and "kill -TERM" in message
            assert sorted(os.listdir(w / "checkpoints")) == before
            assert (w / "export").is_dir() and (w / "flags.txt").is_file()
        with pytest.raises(UserError, match=f"pid {holder.pid}"):
            training.export_only(tiny_config(w, export=True))
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over_and_said(tmp_path, capsys):
    w = tmp_path / "w"
    holder = _start_holder(w)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.load(open(w / workdir_lock.NAME))["pid"] == holder.pid  # left behind
    run = training.run(tiny_config(w), verbose=0)
    assert run.epochs_done == 1
    err = capsys.readouterr().err
    assert f"Taking over the lock on {w}" in err and f"pid {holder.pid}" in err
    assert not (w / workdir_lock.NAME).exists()  # released with the run


def test_a_refused_run_in_a_new_directory_leaves_none_behind(tmp_path):
    # A run refused for its settings removes the directory it made, lock file included.
    with pytest.raises(UserError):
        training.run(tiny_config(tmp_path / "a" / "w", batch_size=100000), verbose=0)
    assert not (tmp_path / "a").exists()


def test_the_lock_is_released_on_an_error_and_conflicts_within_a_process(tmp_path):
    w = tmp_path / "w"
    os.makedirs(w)
    with pytest.raises(RuntimeError):
        with workdir_lock.hold(str(w)):
            assert json.load(open(w / workdir_lock.NAME))["pid"] == os.getpid()
            raise RuntimeError("boom")
    assert not (w / workdir_lock.NAME).exists()
    with workdir_lock.hold(str(w)):  # free again
        # flock locks belong to open files, so a second hold in the same
        # process conflicts as another process's would.
        with pytest.raises(UserError, match=f"pid {os.getpid()}"):
            with workdir_lock.hold(str(w)):
                pass
        assert (w / workdir_lock.NAME).exists()  # the refused hold removed nothing


def test_train_py_in_a_locked_workdir_is_one_line_and_exit_2(tmp_path):
    from conftest import run_script

    w = tmp_path / "w"
    holder = _start_holder(w)
    try:
        result = run_script("train.py", f"--workdir={w}")
        assert os.listdir(w) == [workdir_lock.NAME]  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"error: another run is training in {w} (pid {holder.pid} on "
        f"host {socket.gethostname()}, started "
    )
    assert lines[0].endswith("or choose another --workdir.")
