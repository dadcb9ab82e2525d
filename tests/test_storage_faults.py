"""Storage faults lose no run: a damaged checkpoint is moved aside and the run
resumes from the newest whole one; a full disk stops the run with one line
and the same command resumes; a run killed while it exports leaves the old
export or the new one; a damaged export meets every tool with one line.

Every case runs the real command line (as forks of tests/forkserver.py) on
copies of one tiny finished run, all cases of a kind at once.
"""

import io
import json
import os
import shutil
import signal
import time

import pytest
from conftest import run_script, run_scripts, start_script
from PIL import Image

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


# Stands in for a full disk: ``python full_disk.py WRITER SCRIPT ARGS`` runs
# SCRIPT (train.py or a gan_zoo module) with one writer failing as it does on
# ENOSPC, after leaving part of its file behind: the resumed run's second
# checkpoint save (TensorFlow's error, which names no file), the export
# (likewise), or every picture (Pillow's OSError from the write, no file name).
FULL_DISK = """
import errno, os, runpy, sys
import keras
import tensorflow as tf
from PIL import Image

writer, script, *args = sys.argv[1:]
NO_SPACE = os.strerror(errno.ENOSPC)
save = tf.train.CheckpointManager.save

def checkpoint(self, checkpoint_number=None, **kwargs):
    if checkpoint_number == 6:
        staging = os.path.join(self.directory, "ckpt-6_temp")
        os.makedirs(staging)
        part = os.path.join(staging, "part-00000-of-00001.data-00000-of-00001.tempstate7")
        with open(part, "wb") as f:
            f.write(bytes(1000))
        raise tf.errors.ResourceExhaustedError(None, None, part + "; " + NO_SPACE)
    return save(self, checkpoint_number=checkpoint_number, **kwargs)

def export(self, filepath, **kwargs):
    os.makedirs(os.path.join(filepath, "variables"))
    with open(os.path.join(filepath, "saved_model.pb"), "wb") as f:
        f.write(bytes(1000))
    raise tf.errors.ResourceExhaustedError(None, None, "write failed; " + NO_SPACE)

def picture(self, fp, *args, **kwargs):
    with open(fp, "wb") as f:
        f.write(b"a partial picture")
    raise OSError(errno.ENOSPC, NO_SPACE)

if writer == "checkpoint":
    tf.train.CheckpointManager.save = checkpoint
elif writer == "export":
    # ExportArchive() makes an instance of its backend's subclass.
    type(keras.export.ExportArchive()).write_out = export
else:
    Image.Image.save = picture
sys.argv = [script, *args]
if script.endswith(".py"):
    runpy.run_path(script, run_name="__main__")
else:
    runpy.run_module(script, run_name="__main__", alter_sys=True)
"""

# Writer -> (the step of the newest whole checkpoint the line names, what
# did not fit, relative to the workdir).
FULL = {"checkpoint": (4, "checkpoints"), "export": (6, "export"), "picture": (4, "samples")}


@pytest.fixture(scope="module")
def full_disks(finished, tmp_path_factory):
    """writer -> (workdir, its files before, the full run, its files after
    it, the rerun once there is space); and the tool's (output, result)."""
    base = tmp_path_factory.mktemp("full")
    wrapper = base / "full_disk.py"
    wrapper.write_text(FULL_DISK)
    workdirs = {w: shutil.copytree(finished, base / w) for w in FULL}
    before = {w: _export_files(d) for w, d in workdirs.items()}
    commands = {
        w: train(d, 3, *(["--noexport"] if w == "checkpoint" else [])) for w, d in workdirs.items()
    }
    out = base / "tool" / "grid.png"
    out.parent.mkdir()
    sample = ["gan_zoo.sample", f"--export={finished / 'export'}", f"--out={out}"]
    full = run_scripts(
        {
            **{w: [str(wrapper), w, *c] for w, c in commands.items()},
            "sample": [str(wrapper), "picture", *sample],
        }
    )
    after = {w: _export_files(d) for w, d in workdirs.items()}
    reruns = run_scripts(commands)
    cases = {w: (workdirs[w], before[w], full[w], after[w], reruns[w]) for w in FULL}
    return cases, (out, full["sample"])


@pytest.mark.parametrize("writer", list(FULL))
def test_a_full_disk_stops_the_run_with_one_line_and_the_same_command_resumes(full_disks, writer):
    workdir, before, full, after, rerun = full_disks[0][writer]
    step, what = FULL[writer]
    assert full.returncode == 2, full.stderr[-3000:]
    (line,) = full.stderr.splitlines()
    newest = workdir / "checkpoints" / f"ckpt-{step}"
    if writer == "checkpoint":  # a checkpoint's own line says how much space it needs
        assert line.startswith(f"error: no space left to write checkpoint ckpt-6 in {workdir}")
        assert "needs about " in line and "KB free there" in line
        assert f"the previous one, {newest}, is whole" in line
    else:
        assert line.startswith(f"error: no space left on the disk to write {workdir / what}")
        assert f"checkpoint {newest} is whole" in line and "run the same command" in line
    # Nothing half-written stays (it would keep the disk full), and nothing
    # written before is lost: every file is still there, the export and the
    # checkpoints byte for byte, every picture whole.
    assert [p for p in after if storage.STAGING in p or "_temp" in p] == []
    assert set(before) <= set(after)
    kept = [p for p in before if p.startswith(("export/", "checkpoints/ckpt-"))]
    assert {p: after[p] for p in kept} == {p: before[p] for p in kept}
    for path in after:
        if path.endswith(".png"):
            Image.open(io.BytesIO(after[path])).verify()
    assert checkpoints.problem(str(newest)) is None
    assert rerun.returncode == 0 and not rerun.stderr, rerun.stderr[-3000:]
    assert f"(step {step}, " in rerun.stdout
    assert json.load(open(workdir / "summary.json"))["epochs_done"] == 3


def test_a_tool_meets_a_full_disk_with_one_line_and_leaves_no_part_file(full_disks):
    out, result = full_disks[1]
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.splitlines() == [
        f"error: no space left on the disk to write {out}; free some space and run the same "
        "command again."
    ]
    assert os.listdir(out.parent) == []


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


def test_the_full_disk_line_names_the_file_wherever_the_writer_put_its_name():
    import errno

    import tensorflow as tf

    # What TensorFlow 2.21's summary writer raised on a full tmpfs.
    tensorboard = tf.errors.ResourceExhaustedError(
        None,
        None,
        "{{function_node __wrapped__WriteSummary_device_/job:localhost/replica:0/task:0/device:"
        "CPU:0}} /w/logs/events.out.tfevents.1.v2; No space left on device\n\tFailed to flush "
        "11 events to /w/logs/events.out.tfevents.1.v2\n\tCould not flush events file.",
    )
    pillow = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # from the write: no name
    assert storage.out_of_space(tensorboard) and storage.out_of_space(pillow)
    assert storage.no_space_message(tensorboard, "free some.") == (
        "no space left on the disk to write /w/logs/events.out.tfevents.1.v2; free some."
    )
    storage.name_the_file(pillow, "/w/samples/epoch_0003.png")
    assert "to write /w/samples/epoch_0003.png;" in storage.no_space_message(pillow, "")
    assert not storage.out_of_space(OSError(errno.EACCES, "Permission denied"))
