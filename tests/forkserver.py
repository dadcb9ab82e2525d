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

One server serves every pytest process of a run (both xdist workers; see
conftest.py), so TensorFlow is imported once for all their commands. It
listens on the Unix socket ``sys.argv[1]``, which it creates once it is
ready, and stops when the process that started it is gone. Protocol, one
JSON object per line on a connection: requests ``{"id", "argv", "cwd",
"env", "out", "err"}`` (argv[0] a script path or "-m"); replies on the same
connection ``{"id", "pid"}`` when a child starts and ``{"id",
"returncode"}`` when it ends (negative: killed by that signal).
"""

import atexit
import gc
import json
import os
import runpy
import select
import signal
import socket
import sys


def _child(request, inherited) -> None:
    """Becomes the requested command; never returns."""
    code = 1
    try:
        for connection in inherited:  # the server's, not the command's
            connection.close()
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


def _reply(connection, message: dict) -> None:
    try:
        connection.sendall((json.dumps(message) + "\n").encode())
    except OSError:  # that client is gone; its children still get reaped
        pass


def main() -> None:
    path, owner = sys.argv[1], os.getppid()
    from gan_zoo import cli

    cli.import_tensorflow_quietly()
    import keras  # noqa: F401

    import gan_zoo.training  # noqa: F401  (models, datasets, callbacks, export)

    # What is imported now lives as long as every child: out of the
    # collector's sight, a child's full collections skip the ~370,000 objects
    # of TensorFlow and Keras (and leave their pages shared with this process).
    gc.collect()
    gc.freeze()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".binding")
    listener.listen()
    os.rename(path + ".binding", path)  # clients connect once it exists
    clients = {}  # connection -> bytes received but not yet a whole line
    running = {}  # pid -> (connection, request id)
    while os.getppid() == owner:
        for ready in select.select([listener, *clients], [], [], 0.02)[0]:
            if ready is listener:
                clients[listener.accept()[0]] = b""
                continue
            chunk = ready.recv(1 << 16)
            if not chunk:
                del clients[ready]
                ready.close()
                continue
            clients[ready] += chunk
            while b"\n" in clients[ready]:
                line, clients[ready] = clients[ready].split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request, [listener, *clients])
                running[pid] = ready, request["id"]
                _reply(ready, {"id": request["id"], "pid": pid})
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            connection, request_id = running.pop(pid)
            _reply(connection, {"id": request_id, "returncode": code})


if __name__ == "__main__":
    main()
