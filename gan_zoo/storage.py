"""Writing files so that a run killed at any moment, or a full disk, leaves
each of them whole or absent: the new version is written beside the old one
under a temporary name and renamed into place when complete (a rename within
a directory is atomic). What is found damaged is moved aside, never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil

STAGING = ".partial"  # the new version, while it is written
PREVIOUS = ".previous"  # the old directory, for the instant of a swap


@contextlib.contextmanager
def staged(path: str):
    """Yields the name to write ``path``'s new version under; when the block
    ends, that file takes ``path``'s place, or, if the block failed (a full
    disk, a signal), is removed, leaving the old ``path`` as it was."""
    staging = path + STAGING
    try:
        yield staging
        with open(staging, "rb+") as f:
            # The rename must not reach the disk before the data: after a
            # power cut the file would be empty instead of old or new.
            os.fsync(f.fileno())
        os.replace(staging, path)
    except BaseException as e:
        _remove(staging)
        name_the_file(e, path)
        raise


def write_text(path: str, text: str) -> str:
    """Writes ``text`` to ``path`` through :func:`staged`; returns ``path``."""
    with staged(path) as staging, open(staging, "w") as f:
        f.write(text)
    return path


def replace_directory(staging: str, directory: str) -> None:
    """Puts the complete ``staging`` directory in the place of ``directory``
    (two renames), so a reader, or a process killed meanwhile, sees the old
    directory or the new one, never a mix. A kill between the renames leaves
    ``<directory>.previous``, which :func:`recover_directory` puts back."""
    previous = directory + PREVIOUS
    if os.path.isdir(directory):
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(directory, previous)
    os.rename(staging, directory)
    shutil.rmtree(previous, ignore_errors=True)


def recover_directory(directory: str) -> None:
    """Undoes what a kill during :func:`replace_directory` or during the
    writing of its staging directory left: the old ``directory`` goes back in
    place if the swap was cut between its renames, and the unfinished new one
    is dropped (it was never in place, so no one has read it)."""
    previous = directory + PREVIOUS
    if os.path.isdir(previous):
        if os.path.isdir(directory):
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.rename(previous, directory)
    shutil.rmtree(directory + STAGING, ignore_errors=True)


def recover_file(path: str) -> None:
    """Drops the staging file a kill during :func:`staged` left."""
    _remove(path + STAGING)


def move_aside(paths: list[str], directory: str) -> str:
    """Moves the existing ``paths`` into the new directory ``directory``
    (``directory.2``, ``.3``, ... if it exists: an earlier damage stays too);
    returns the directory they went to."""
    target, n = directory, 1
    while os.path.exists(target):
        n += 1
        target = f"{directory}.{n}"
    os.makedirs(target)
    for path in paths:
        if os.path.lexists(path):
            os.rename(path, os.path.join(target, os.path.basename(path)))
    return target


def out_of_space(error: BaseException) -> bool:
    """Whether ``error`` (an OSError, or TensorFlow's error for a failed
    file write, which keeps only the message) says the disk is full."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return any(text in str(error) for text in (os.strerror(errno.ENOSPC), "Disk quota exceeded"))


def name_the_file(error: BaseException, path: str) -> None:
    """Gives a full disk's error the name of the file (or directory) that did
    not fit, where the writer (Pillow, TensorFlow) left it out."""
    if isinstance(error, Exception) and out_of_space(error):
        if not getattr(error, "filename", None):
            error.filename = path


def no_space_message(error: BaseException, advice: str) -> str:
    """The one line for a full disk: the file that did not fit, where known,
    and ``advice``."""
    written = getattr(error, "filename", None)
    if not written:  # TensorFlow's writers say "<path>; No space left on device"
        named = re.search(r"(\S+); " + re.escape(os.strerror(errno.ENOSPC)), str(error))
        written = named and named.group(1)
    return f"no space left on the disk{f' to write {written}' if written else ''}; {advice}"


def size_text(num_bytes: float) -> str:
    """``29887440`` -> ``29.9 MB``."""
    for unit in ("bytes", "KB", "MB"):
        if num_bytes < 1000:
            return f"{num_bytes:.0f} {unit}" if unit == "bytes" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    return f"{num_bytes:.1f} GB"


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
