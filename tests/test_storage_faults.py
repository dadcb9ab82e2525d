"""Storage faults lose no run: a damaged checkpoint is moved aside and the run
resumes from the newest whole one; a full disk stops the run with one line
and the same command resumes; a run killed while it exports leaves the old
export or the new one; a damaged export meets every tool with one line.

Every case runs the real command line (as forks of tests/forkserver.py) on
copies of one tiny finished run, all cases of a kind at once.
"""

import json
import os
import shutil
import signal
import time

import pytest
from conftest import run_script, run_scripts, start_script

from gan_zoo import checkpoints, storage

TINY = [
    "--model=vae",
    "--hidden_units=16",
    "--hidden_layers=1",
    "--latent_dim=2",
    "--steps_per_epoch=2",
    "--batch_size=8",
    "--num_samples=4",
    "--run_eagerly",
]


def train(workdir, epochs, *extra):
    return ["train.py", f"--workdir={workdir}", f"--epochs={epochs}", *TINY, *extra]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A run of 2 epochs: checkpoints ckpt-2 and ckpt-4, and its export."""
    workdir = tmp_path_factory.mktemp("finished") / "w"
    result = run_script(*train(workdir, 2))
    assert result.returncode == 0, result.stderr[-2000:]
    return workdir


def copy_of(finished, tmp_path, name="w"):
    return shutil.copytree(finished, tmp_path / name)


def files_under(directory):
    """{path relative to ``directory``: size} of every file below it."""
    return {
        os.path.relpath(os.path.join(root, name), directory): os.path.getsize(
            os.path.join(root, name)
        )
        for root, _, names in os.walk(directory)
        for name in names
    }


def cut_short(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


DATA = "ckpt-4.data-00000-of-00001"
# Name -> (what is done to the checkpoints, the step the rerun resumes from,
# where the damaged files go).
DAMAGE = {
    "truncated_data": (lambda c: cut_short(c / DATA), 2, "damaged/ckpt-4"),
    "missing_data": (lambda c: os.remove(c / DATA), 2, "damaged/ckpt-4"),
    "empty_index": (lambda c: open(c / "ckpt-4.index", "w").close(), 2, "damaged/ckpt-4"),
    "state_names_gone": (
        lambda c: [os.remove(c / n) for n in (DATA, "ckpt-4.index")],
        2,
        None,  # nothing left to move
    ),
    "missing_state": (lambda c: os.remove(c / "checkpoint"), 4, None),
    "garbage_state": (
        lambda c: (c / "checkpoint").write_bytes(bytes(range(256)) * 3),
        4,
        "damaged/checkpoint",
    ),
}


@pytest.fixture(scope="module")
def damaged_runs(finished, tmp_path_factory):
    """name -> (workdir, its checkpoint files after the damage, the rerun's result)."""
    base = tmp_path_factory.mktemp("damaged")
    cases = {}
    for name, (damage, _, _) in DAMAGE.items():
        workdir = shutil.copytree(finished, base / name)
        damage(workdir / "checkpoints")
        cases[name] = (workdir, files_under(workdir / "checkpoints"))
    # Without the export, which costs more than the tiny training.
    results = run_scripts({name: train(w, 3, "--noexport") for name, (w, _) in cases.items()})
    return {name: (*cases[name], results[name]) for name in cases}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_a_damaged_checkpoint_is_moved_aside_and_the_run_resumes_from_an_older_one(
    damaged_runs, name
):
    workdir, before, result = damaged_runs[name]
    _, step, aside = DAMAGE[name]
    checkpoint_dir = workdir / "checkpoints"
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: "), result.stderr
    assert f"resuming from ckpt-{step} (step {step})" in lines[0]
    assert f"Resuming from {checkpoint_dir} (step {step}," in result.stdout
    assert json.load(open(workdir / "summary.json"))["epochs_done"] == 3
    assert checkpoints.problem(str(checkpoint_dir / "ckpt-6")) is None
    # Nothing is lost: every file the damage left is where it was (a whole
    # checkpoint), or in the directory the warning names, byte for byte.
    after = files_under(checkpoint_dir)
    moved = {k.split("/")[-1]: v for k, v in after.items() if aside and k.startswith(aside + "/")}
    for path, size in before.items():
        if path.startswith("ckpt-2.") or (path.startswith("ckpt-4.") and step == 4):
            assert after.get(path) == size, path  # whole, kept in place
        elif path == "checkpoint" and name != "garbage_state":
            continue  # rewritten to name what is left
        else:
            assert moved.get(path) == size, (path, sorted(after))
    if aside:
        assert f"moved to {checkpoint_dir / aside}" in lines[0]


def test_when_no_checkpoint_reads_back_the_run_stops_with_one_line_and_moves_nothing(
    finished, tmp_path
):
    workdir = copy_of(finished, tmp_path)
    cut_short(workdir / "checkpoints" / DATA)
    cut_short(workdir / "checkpoints" / "ckpt-2.data-00000-of-00001")
    before = files_under(workdir)
    result = run_script(*train(workdir, 3, "--noexport"))
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: no checkpoint in {workdir / 'checkpoints'} reads back whole")
    assert "ckpt-4: its .data file is cut short" in line and "--overwrite" in line
    assert files_under(workdir) == before
    afresh = run_script(*train(workdir, 1, "--noexport", "--overwrite"))
    assert afresh.returncode == 0 and not afresh.stderr, afresh.stderr[-3000:]
    assert "Resuming" not in afresh.stdout


# Stands in for a full disk: the second save of the resumed run leaves a
# partial data file in its staging directory and fails as TensorFlow's
# writer does on ENOSPC.
FULL_DISK = """
import os, runpy, sys
import tensorflow as tf

save = tf.train.CheckpointManager.save

def full(self, checkpoint_number=None, **kwargs):
    if checkpoint_number == 6:
        staging = os.path.join(self.directory, "ckpt-6_temp")
        os.makedirs(staging)
        part = os.path.join(staging, "part-00000-of-00001.data-00000-of-00001.tempstate7")
        with open(part, "wb") as f:
            f.write(bytes(1000))
        raise tf.errors.ResourceExhaustedError(None, None, part + "; No space left on device")
    return save(self, checkpoint_number=checkpoint_number, **kwargs)

tf.train.CheckpointManager.save = full
sys.argv[0] = "train.py"
runpy.run_path("train.py", run_name="__main__")
"""


def test_a_full_disk_stops_the_run_with_one_line_and_the_same_command_resumes(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    wrapper = tmp_path / "full_disk.py"
    wrapper.write_text(FULL_DISK)
    command = train(workdir, 3, "--noexport")
    full = run_script(str(wrapper), *command[1:])
    assert full.returncode == 2, full.stderr[-3000:]
    (line,) = full.stderr.splitlines()
    assert line.startswith(f"error: no space left to write checkpoint ckpt-6 in {workdir}")
    assert "needs about " in line and "KB free there" in line
    assert f"the previous one, {workdir / 'checkpoints' / 'ckpt-4'}, is whole" in line
    assert sorted(os.listdir(workdir / "checkpoints")) == [
        "checkpoint",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
        "ckpt-4.data-00000-of-00001",
        "ckpt-4.index",
    ]  # the partial save is gone, so it does not keep the disk full
    assert checkpoints.problem(str(workdir / "checkpoints" / "ckpt-4")) is None
    resumed = run_script(*command)
    assert resumed.returncode == 0 and not resumed.stderr, resumed.stderr[-3000:]
    assert "(step 4, 2 epochs and 0 steps done)" in resumed.stdout


def _export_files(directory):
    return {
        path: open(os.path.join(directory, path), "rb").read() for path in files_under(directory)
    }


def test_a_run_killed_while_it_exports_leaves_the_old_export_or_the_new_one(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    old = _export_files(workdir / "export")
    command = train(workdir, 3)
    process = start_script(*command)
    staging = workdir / ("export" + storage.STAGING)
    deadline = time.time() + 120
    while process.poll() is None and not staging.exists() and time.time() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, "the run ended before its export"
    # A kill in the instant between the swap's two renames leaves the old
    # export as export.previous, which the next run puts back.
    shown = workdir / "export"
    if not shown.exists():
        shown = workdir / ("export" + storage.PREVIOUS)
    now = _export_files(shown)
    whole = checkpoints.problem(str(shown / "variables" / "variables")) is None
    assert now == old or (whole and set(now) == set(old)), "a half-written export in place"
    # The rerun finds every epoch done, puts nothing half-written in place
    # and leaves no staging behind.
    rerun = run_script(*command)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert all(line.startswith("Taking over the lock") for line in rerun.stderr.splitlines())
    assert sorted(p for p in os.listdir(workdir) if p.startswith("export")) == ["export"]
    assert checkpoints.problem(str(workdir / "export" / "variables" / "variables")) is None
    assert json.load(open(workdir / "summary.json"))["epochs_done"] == 3


def test_a_swap_cut_between_its_renames_puts_the_old_directory_back(tmp_path):
    directory = tmp_path / "export"
    (tmp_path / "export.previous").mkdir()
    (tmp_path / "export.previous" / "saved_model.pb").write_text("old")
    (tmp_path / "export.partial").mkdir()
    storage.recover_directory(str(directory))
    assert sorted(os.listdir(tmp_path)) == ["export"]
    assert (directory / "saved_model.pb").read_text() == "old"


def test_a_file_written_through_its_staging_name_is_old_or_new(tmp_path, monkeypatch):
    path = tmp_path / "flags.txt"
    storage.write_text(str(path), "--epochs=2\n")

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        storage.write_text(str(path), "--epochs=3\n")
    assert path.read_text() == "--epochs=2\n"
    assert os.listdir(tmp_path) == ["flags.txt"]


TOOLS = {
    "evaluate": ["--metrics=parzen"],
    "sample": [],
    "walk": [],
    "arithmetic": ["--list"],
    "probe": [],
    "onnx_export": [],
}


@pytest.fixture(scope="module")
def damaged_exports(finished, tmp_path_factory):
    base = tmp_path_factory.mktemp("exports")
    exports = {}
    for part, path in (
        ("variables", "variables/variables.data-00000-of-00001"),
        ("saved_model.pb", "saved_model.pb"),
    ):
        exports[part] = shutil.copytree(finished / "export", base / part.replace(".", "_"))
        cut_short(exports[part] / path)
    before = {part: files_under(directory) for part, directory in exports.items()}
    results = run_scripts(
        {
            (tool, part): ["-m", f"gan_zoo.{tool}", f"--export={directory}", *args]
            for tool, args in TOOLS.items()
            for part, directory in exports.items()
        }
    )
    return exports, before, results


@pytest.mark.parametrize("part", ["variables", "saved_model.pb"])
@pytest.mark.parametrize("tool", list(TOOLS))
def test_every_tool_meets_a_damaged_export_with_one_line(damaged_exports, tool, part):
    exports, before, results = damaged_exports
    result = results[(tool, part)]
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and str(exports[part]) in line
    assert "damaged" in line and "--export_only" in line
    assert files_under(exports[part]) == before[part]
