"""Which checkpoint a run resumes from: the newest that reads back whole.

tf.train writes a checkpoint's files before it names it in the ``checkpoint``
state file, so a killed save never leaves a damaged checkpoint named there.
Storage does: a full disk, a copy from a bucket broken off, a node lost
mid-sync leave a data shard cut short, a shard or the index missing, the
state file naming files that are gone, or the state file itself garbage.
TensorFlow then ends the restore in a traceback, or (a state file naming a
checkpoint that is gone) silently starts training afresh over the older
checkpoints beside it. Here every candidate is read back, tensor by tensor
(tf.train checks each one's size and CRC32C as it reads), newest first; what
does not read back whole is moved to ``checkpoints/damaged/``, never deleted,
and the state file is rewritten to name what is left.
"""

from __future__ import annotations

import glob
import os
import re
import sys

import tensorflow as tf
from google.protobuf import text_format

from gan_zoo import storage
from gan_zoo.errors import UserError

STATE = "checkpoint"  # tf.train's state file
DAMAGED = "damaged"


def step_of(prefix: str) -> int:
    """The number of checkpoint ``.../ckpt-N`` (the training step that wrote it)."""
    return int(prefix.rsplit("-", 1)[1])


def files_of(prefix: str) -> list[str]:
    """The files of checkpoint ``prefix`` that exist: its index and data shards."""
    return sorted(glob.glob(glob.escape(prefix) + ".index")) + sorted(
        glob.glob(glob.escape(prefix) + ".data-*-of-*")
    )


def size_on_disk(prefix: str) -> int:
    return sum(os.path.getsize(path) for path in files_of(prefix))


def _written(prefix: str) -> float:
    """When checkpoint ``prefix`` was written, as far as its files tell (0: gone)."""
    return max((os.path.getmtime(path) for path in files_of(prefix)), default=0.0)


def problem(prefix: str) -> str | None:
    """What keeps checkpoint (or SavedModel variables) ``prefix`` from reading
    back whole, in a few words; None if every tensor reads back."""
    index = prefix + ".index"
    if not files_of(prefix):
        return "its files are gone"
    if not os.path.isfile(index):
        return "its .index file is missing"
    if os.path.getsize(index) == 0:
        return "its .index file is empty"
    if not glob.glob(glob.escape(prefix) + ".data-*"):
        return "its .data file is missing"
    try:
        reader = tf.train.load_checkpoint(prefix)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
    except (tf.errors.OpError, IndexError, ValueError, OSError, RuntimeError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        if "Read less bytes than requested" in detail:
            return "its .data file is cut short"
        if re.search(r"No such file|not found|NotFound", detail):
            return "a .data shard is missing"
        return f"it does not read back ({detail[:100]})"
    return None


def _state(directory: str = "/", newest: str = "", **fields):
    """A CheckpointState proto, what the state file holds (tf.train makes its
    class public only through this builder); paths are kept as given."""
    state = tf.compat.v1.train.generate_checkpoint_state_proto(
        os.path.abspath(directory), newest, **fields
    )
    if not newest:  # the builder lists "" as a checkpoint
        state.Clear()
    return state


def _read_state(directory: str):
    """(the state file's contents, whether it is garbage); (None, False) if
    there is none."""
    path = os.path.join(directory, STATE)
    if not os.path.isfile(path):
        return None, False
    try:
        with open(path, encoding="utf-8") as f:
            state = text_format.Parse(f.read(), _state())  # an empty one
    except (OSError, UnicodeDecodeError, text_format.ParseError):
        return None, True
    return (state, False) if state.model_checkpoint_path else (None, True)


def newest_whole(directory: str, repair: bool = True) -> str | None:
    """The prefix of the newest checkpoint in ``directory`` that reads back
    whole (None: there is none to resume from).

    Damaged ones newer than it are skipped, with one warning line on stderr;
    with ``repair`` they (and a garbage state file) are moved to
    ``<directory>/damaged/`` and the state file names what is left, so the
    next save neither collides with them nor deletes them. A reader that does
    not own the directory (another worker of a multi-worker run) passes
    ``repair=False``.

    Raises:
      UserError: checkpoints are there, and none reads back whole; nothing is moved.
    """
    if repair:
        storage.recover_file(os.path.join(directory, STATE))
    state, garbage = _read_state(directory)
    if state is not None:
        recorded = [os.path.join(directory, p) for p in state.all_model_checkpoint_paths]
        latest = os.path.join(directory, state.model_checkpoint_path)
        if latest not in recorded:
            recorded.append(latest)
        stamps = dict(zip(recorded, state.all_model_checkpoint_timestamps))
    else:  # the files on disk are all there is to go by
        on_disk = os.listdir(directory) if os.path.isdir(directory) else []
        names = (re.fullmatch(r"(ckpt-\d+)\.(index|data-\d+-of-\d+)", n) for n in on_disk)
        recorded = sorted({os.path.join(directory, m.group(1)) for m in names if m})
        stamps = {p: _written(p) for p in recorded}
        if not recorded and not garbage:
            return None
    # Checkpoint files without a state file (one lost, or deleted by hand):
    # tf.train would ignore them and the new run would delete them.
    missing = state is None and not garbage
    candidates = sorted(recorded, key=step_of, reverse=True)
    damaged, chosen = [], None
    for prefix in candidates:
        found = problem(prefix)
        if found is None:
            chosen = prefix
            break
        damaged.append((prefix, found))
    described = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in damaged)
    if garbage or missing:
        why = "garbage" if garbage else "missing"
        described = "; ".join(filter(None, [f"the {STATE} state file is {why}", described]))
    if chosen is None:
        if not candidates and not garbage:
            return None
        raise UserError(
            f"no checkpoint in {directory} reads back whole ({described or 'there are none'}); "
            "pass --overwrite to start afresh (it deletes them), or restore them from a copy."
        )
    if not described:
        return chosen
    moved = _repair(directory, state, recorded, stamps, damaged, chosen) if repair else []
    where = f"; moved to {', '.join(moved)}" if moved else ""
    print(
        f"warning: skipping damaged checkpoint data in {directory} ({described}){where}; "
        f"resuming from {os.path.basename(chosen)} (step {step_of(chosen)}).",
        file=sys.stderr,
    )
    return chosen


def _repair(directory, state, recorded, stamps, damaged, chosen) -> list[str]:
    """Moves the ``damaged`` checkpoints (and a garbage state file: ``state``
    None) aside and writes a state file that names ``chosen`` as the newest;
    returns where the files went."""
    aside, moved = os.path.join(directory, DAMAGED), []
    path = os.path.join(directory, STATE)
    if state is None and os.path.exists(path):
        moved.append(storage.move_aside([path], os.path.join(aside, STATE)))
    for prefix, _ in damaged:
        if files_of(prefix):
            target = os.path.join(aside, os.path.basename(prefix))
            moved.append(storage.move_aside(files_of(prefix), target))
    # The older ones stay named, with their times, so that max_to_keep still
    # deletes them in turn.
    kept = [p for p in sorted(recorded, key=step_of) if step_of(p) <= step_of(chosen)]
    rewritten = _state(
        directory,
        os.path.basename(chosen),
        all_model_checkpoint_paths=[os.path.basename(p) for p in kept],
        all_model_checkpoint_timestamps=[stamps.get(p) or _written(p) for p in kept],
        last_preserved_timestamp=(
            state.last_preserved_timestamp if state is not None else min(stamps.values()) - 1
        ),
    )
    storage.write_text(os.path.join(directory, STATE), text_format.MessageToString(rewritten))
    return moved
