"""Runs the tests' command lines (``python train.py ...``) as forks of one
process that has already imported TensorFlow.

A fresh ``python train.py`` spends about 7 CPU-seconds importing TensorFlow
and Keras on a 2-core test machine before it reads its flags; the suite runs
dozens of them. This server pays that once: it imports TensorFlow the way the
entry points do (gan_zoo.cli.import_tensorflow_quietly) but creates no
TensorFlow runtime (no thread pools, no eager context), so forking it is
safe, and each child then runs its script exactly as ``python script`` would,
``if __name__ == "__main__"`` included, with its own pid, signals, exit
status, stdout and stderr. What a fork cannot show, the muting of
TensorFlow's start-up noise on stderr, is left to the tests that still start
a real interpreter (conftest.run_script(..., fresh=True)).

Protocol, one JSON object per line: requests on stdin
``{"id", "argv", "cwd", "env", "out", "err"}`` (argv[0] a script path or
"-m"); replies on stdout ``{"id", "pid"}`` when a child starts and
``{"id", "returncode"}`` when it ends (negative: killed by that signal).
"""

import atexit
import gc
import json
import os
import runpy
import select
import signal
import sys


def _child(request) -> None:
    """Becomes the requested command; never returns."""
    code = 1
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path in ((1, request["out"]), (2, request["err"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        argv = request["argv"]
        sys.path[0] = request["cwd"]
        try:
            if argv[0] == "-m":
                sys.argv = [argv[1], *argv[2:]]
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
            else:
                sys.argv = list(argv)
                sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
                runpy.run_path(argv[0], run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()  # what interpreter shutdown would do
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    from gan_zoo import cli

    cli.import_tensorflow_quietly()
    import keras  # noqa: F401

    import gan_zoo.training  # noqa: F401  (models, datasets, callbacks, export)

    # What is imported now lives as long as every child: out of the
    # collector's sight, a child's full collections skip the ~370,000 objects
    # of TensorFlow and Keras (and leave their pages shared with this process).
    gc.collect()
    gc.freeze()

    _reply({"ready": True})
    running = {}  # pid -> request id
    pending, stdin_open = b"", True
    while stdin_open or running:
        # os.read, not sys.stdin: select() cannot see lines that a buffered
        # reader has already taken in.
        if select.select([0] if stdin_open else [], [], [], 0.02)[0]:
            chunk = os.read(0, 1 << 16)
            stdin_open = bool(chunk)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request)
                running[pid] = request["id"]
                _reply({"id": request["id"], "pid": pid})
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _reply({"id": running.pop(pid), "returncode": code})


if __name__ == "__main__":
    main()
