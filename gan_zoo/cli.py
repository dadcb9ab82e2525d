"""What every entry point (train.py, python -m gan_zoo.sample, ...) shares:
quiet start-up and one-line errors for user mistakes."""

from __future__ import annotations

import os
import re
import sys

from absl import app, flags, logging

from gan_zoo.errors import Interrupted, UserError

flags.DEFINE_bool(
    "check",
    False,
    "Dry run: parse the flags (and any --flagfile), validate every setting, print the "
    "resolved settings and exit 0, without reading data, loading an export or writing "
    "anything.",
)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and initialises its devices with C++ stderr muted.

    TF 2.21 prints oneDNN / "no CUDA driver" notes from C++ before its log
    level is read, ignoring TF_CPP_MIN_LOG_LEVEL; on a CPU machine they bury
    the lines meant for the user. Python exceptions are unaffected: they are
    raised after stderr is restored.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("GAN_ZOO_VERBOSE_TF"):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run(main, check) -> None:
    """absl's app.run, with UserError printed as one line and exit status 2.

    Args:
      main: the entry point's main(argv).
      check: callable() that validates every setting without touching data,
        exports or the disk, raising UserError; it may return the resolved
        settings as text, which --check prints (otherwise it prints the
        entry point's own flags).
    """

    def guarded(argv):
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        if len(argv) > 1:
            fail(f"unexpected argument(s) {' '.join(argv[1:])!r}; every setting is a --flag.")
        import_tensorflow_quietly()
        try:
            if flags.FLAGS.check:
                resolved = check()
                print(resolved if isinstance(resolved, str) else own_settings(), end="")
                return None
            return main(argv)
        except UserError as e:
            fail(str(e))
        except Interrupted as e:
            print(str(e), file=sys.stderr)
            sys.exit(128 + e.signum)
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, without a checkpoint
            print("Interrupted; nothing was saved since the last checkpoint.", file=sys.stderr)
            sys.exit(130)
        except Exception as e:
            from gan_zoo import execution, storage  # TensorFlow is imported by now

            if storage.out_of_space(e):
                fail(storage.no_space_message(e, "free some space and run the same command again."))

            # A lost worker is no mistake of the user's (exit 1, not 2), but
            # it ended in a 40-line traceback that did not say what to do.
            message = execution.lost_task_message(e)
            if message is None:
                raise
            # TensorFlow's coordination service keeps logging from its own
            # threads while the process ends (a restarted worker retrying its
            # connection): those lines go to /dev/null, so this one is the last.
            sys.stderr.flush()
            terminal = os.dup(2)
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
            os.write(terminal, f"error: {message}\n".encode())
            sys.exit(1)

    app.run(guarded, flags_parser=parse_flags)


def own_settings() -> str:
    """The entry point's own flags, one ``--name=value`` a line."""
    own = flags.FLAGS.get_key_flags_for_module(sys.argv[0])
    return "".join(f"--{f.name}={f.value}\n" for f in sorted(own, key=lambda f: f.name))


def console() -> None:
    """Every ``gan-zoo-<tool>`` command that setup.py installs: runs
    ``python -m gan_zoo.<tool>``, the tool named by the command."""
    import runpy

    tool = os.path.basename(sys.argv[0]).removeprefix("gan-zoo-").replace("-", "_")
    runpy.run_module(f"gan_zoo.{tool}", run_name="__main__", alter_sys=True)


_TYPES = {"int": "an integer", "float": "a number", "bool": "true or false"}


def parse_flags(argv):
    """absl's flag parsing, with a mistake printed as one ``error:`` line and
    exit status 2 (absl's own parser prints two lines and exits 1)."""
    try:
        return flags.FLAGS(argv)
    except flags.UnrecognizedFlagError as e:
        # absl only offers its suggestions inside the message text.
        suggestions = re.search(r"Did you mean: (.*) \?$", str(e))
        hint = (
            f"did you mean {', '.join('--' + s for s in suggestions.group(1).split(', '))}? "
            if suggestions
            else ""
        )
        fail(f"unknown flag --{e.flagname}; {hint}--helpfull lists every flag.")
    except flags.CantOpenFlagFileError as e:
        fail(f"{str(e).removeprefix('ERROR:: ')}; check the --flagfile path.")
    except flags.Error as e:
        message = " ".join(str(e).split())
        bad = re.match(r"flag --(\w+)=", message)
        if bad and bad.group(1) in flags.FLAGS:
            kind = flags.FLAGS[bad.group(1)].flag_type()
            # absl words a bad boolean as a tuple's repr: say it plainly.
            message = re.sub(
                r": \('Non-boolean argument to boolean flag', .*\)$", ": not a boolean", message
            )
            fail(
                f"{message.removeprefix('flag ')}; --{bad.group(1)} takes "
                f"{_TYPES.get(kind, 'a ' + kind)}."
            )
        fail(f"{message}; --helpfull says what each flag takes.")


def fail(message: str) -> None:
    """Prints ``error: message`` to stderr and exits with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
