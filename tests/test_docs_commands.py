"""Every command the docs show runs: each ``python train.py ...``,
``python -m gan_zoo.<tool> ...`` and ``gan-zoo-<tool> ...`` in README.md,
docs/*.md and the flagfiles' headers is run as written with ``--check``
(parse, resolve, validate, print, touch nothing), so a misspelt flag, a
removed flagfile or a bad value in the docs fails here."""

import glob
import os
import re
import shlex

import pytest
from conftest import ROOT, run_scripts

_COMMAND = re.compile(r"(python train\.py|python -m gan_zoo\.\w+|gan-zoo-[\w-]+)\b")
_FENCE = re.compile(r"^```")
_SPAN = re.compile(r"`([^`\n]+)`")
_HELP = {"--help", "--helpfull", "--helpshort"}


def _commands_in_line(line: str) -> list[str]:
    found = []
    for part in re.split(r"&&|;|\|", line):
        match = _COMMAND.search(part)
        if match:
            command = part[match.start() :]
            found.append(re.sub(r"\s+#.*$", "", command).strip())
    return found


def _joined(lines):
    """Lines with their backslash continuations joined."""
    out, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            out.append(pending + line)
            pending = ""
    return out


def documented_commands() -> list[tuple[str, str]]:
    """(where, command) for every command in the docs and flagfile headers."""
    found = []
    docs = ["README.md", *sorted(glob.glob("docs/*.md", root_dir=ROOT))]
    for doc in docs:
        with open(os.path.join(ROOT, doc)) as f:
            lines = f.read().splitlines()
        in_block = False
        block = []
        for number, line in enumerate(lines, 1):
            if _FENCE.match(line.strip()):
                if in_block:
                    found += [(doc, c) for text in _joined(block) for c in _commands_in_line(text)]
                in_block, block = not in_block, []
            elif in_block:
                block.append(line)
            else:
                for span in _SPAN.findall(line):
                    # A bare tool name in prose names it; a command has arguments.
                    if _COMMAND.match(span) and (" " in span.strip() or span == "python train.py"):
                        found += [(f"{doc}:{number}", c) for c in _commands_in_line(span)]
    for flagfile in sorted(glob.glob("flags/*.flags", root_dir=ROOT)):
        with open(os.path.join(ROOT, flagfile)) as f:
            header = [line[1:].strip() for line in f if line.startswith("#")]
        found += [(flagfile, c) for text in _joined(header) for c in _commands_in_line(text)]
    return found


def _argv(command: str) -> list[str]:
    words = shlex.split(command)
    if words[0].startswith("gan-zoo-"):  # the installed command is python -m gan_zoo.<tool>
        return ["-m", "gan_zoo." + words[0].removeprefix("gan-zoo-").replace("-", "_"), *words[1:]]
    return words[1:]  # drop "python"


def test_the_collector_finds_each_kind_of_command():
    commands = [c for _, c in documented_commands()]
    assert any(c.startswith("python train.py --flagfile=flags/") for c in commands)
    assert any(c.startswith("python -m gan_zoo.evaluate") for c in commands)
    assert _commands_in_line("pip install -e . && python train.py   # offline") == [
        "python train.py"
    ]
    assert _joined(["python train.py \\", "  --epochs=2"]) == ["python train.py    --epochs=2"]
    assert _argv("gan-zoo-onnx-export --export=x") == ["-m", "gan_zoo.onnx_export", "--export=x"]


def test_every_documented_command_passes_its_dry_run():
    commands = documented_commands()
    assert len(commands) >= 30, commands
    unique = sorted({c for _, c in commands})
    before = set(os.listdir(ROOT))
    results = run_scripts(
        {c: _argv(c) if _HELP & set(c.split()) else [*_argv(c), "--check"] for c in unique},
        timeout=240,
    )
    failed = [
        f"{[w for w, c in commands if c == command]}: {command}\n  {result.stderr.strip()}"
        for command, result in results.items()
        if not result.stdout.strip()
        or result.stderr.strip()
        # absl ends --help with exit status 1.
        or result.returncode not in ((0, 1) if _HELP & set(command.split()) else (0,))
    ]
    assert not failed, "\n".join(failed)
    assert set(os.listdir(ROOT)) == before, "a --check wrote into the checkout"


@pytest.mark.parametrize(
    "args, message",
    [
        (["train.py", "--flagfile=flags/gan_mnist.flags", "--latnet_dim=3"], "unknown flag"),
        (["train.py", "--flagfile=flags/no_such.flags"], "--flagfile"),
        (["train.py", "--model=gan", "--ngf=8"], "has no setting --ngf"),
        (["-m", "gan_zoo.sample", "--num=0"], "--num=0 must be > 0"),
        (["-m", "gan_zoo.walk", "--export=x", "--method=cubic"], "--method='cubic'"),
        (["-m", "gan_zoo.results", "--render", "--verify"], "exactly one of"),
    ],
)
def test_a_bad_command_fails_its_dry_run_with_one_line(args, message):
    result = run_scripts({"": [*args, "--check"]})[""]
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_train_check_prints_the_resolved_run_and_touches_nothing(tmp_path):
    workdir = tmp_path / "run"
    result = run_scripts(
        {
            "": [
                "train.py",
                "--flagfile=flags/aae_mnist_semi_supervised.flags",
                f"--data_dir={tmp_path / 'no_mnist_here'}",
                f"--workdir={workdir}",
                "--check",
            ]
        }
    )[""]
    assert result.returncode == 0, result.stderr
    settings = result.stdout.splitlines()
    # The flagfile's values, then the model's paper defaults for the rest.
    assert "--model=aae_semi_supervised" in settings
    assert "--keep_best=error" in settings
    assert any(s.startswith("--num_labels=") for s in settings)
    assert not workdir.exists() and not (tmp_path / "no_mnist_here").exists()
