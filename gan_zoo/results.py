"""Result records, and the results tables rendered from them.

Every number a results table reports lives in one small JSON record under
``docs/results/``: the metric values with their spread, the flagfile and any
extra flags, the epoch scored and how it was chosen, the commit, the runtime
and the hardware. The tables in README.md and docs/*.md sit between
``<!-- results:NAME -->`` and ``<!-- /results -->`` and are rendered from the
records that list NAME in their ``tables``; nobody types them.

    python -m gan_zoo.results --record=docs/results/aae_mnist_parzen.json \\
        --workdir=<workdir> --evaluation=<workdir>/evaluation.json   # measured fields
    python -m gan_zoo.results --render    # rewrite every table from the records
    python -m gan_zoo.results --verify    # exit 1 if a table differs from its records

``--record`` fills in what a run measured (metrics from ``gan_zoo.evaluate``'s
JSON, the epoch from ``best.json`` or ``summary.json``, the flags from
``flags.txt``, the commit, the hardware) and keeps what a person wrote once:
the title, the page, the tables, the paper's number and how the epoch was
chosen. A record of a run whose directory is gone says so in
``transcribed``: where its numbers were copied from.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess

from gan_zoo import storage
from gan_zoo.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = os.path.join("docs", "results")

# How each metric reads in a table: (column heading, decimals, as a percentage).
METRICS = {
    "parzen": ("Parzen (nats)", 1, False),
    "fid": ("classifier-FID", 1, False),
    "kid": ("KID", 1, False),
    "is": ("classifier score", 2, False),
    "modes_covered": ("classes ≥ 5 %", 0, False),
    "test_error": ("test error", 2, True),
    "test_cluster_error": ("test cluster error", 2, True),
    "class_control": ("class control", 2, False),
    "neg_elbo": ("test −ELBO (nats)", 1, False),
    "recon_bce": ("reconstruction BCE per pixel", 3, False),
    "contraction": ("‖∂h/∂x‖²_F", 1, False),
    "noisy_recon_bce": ("BCE of noisy digits' reconstructions", 3, False),
    "class_accuracy": ("samples read as their label", 2, True),
    "svm_accuracy": ("linear SVM test accuracy", 2, True),
    "memorization_ratio": ("nearest-training-image distance / held-out's", 2, False),
    "memorization_share": ("closer than held-out's 1 %", 1, True),
    "in_component": ("test codes in their label's component", 1, True),
}
# A record of a run names its flagfile; one of real data (the protocol's
# reference row) has none.
REQUIRED = ("title", "page", "tables", "headline", "metrics", "epoch_choice")
MEASURED = ("metrics", "epoch", "epochs", "commit", "hardware", "date", "runtime")


def _number(metric: str, value) -> str:
    """A value, or {"value", "spread", "decimals"}, as a table prints it;
    "decimals" (a paper's number as the paper printed it) overrides the metric's."""
    _, decimals, percent = METRICS[metric]
    if not isinstance(value, dict):
        value = {"value": value}
    decimals = value.get("decimals", decimals)
    scale, unit = (100, " %") if percent else (1, "")
    text = f"{scale * value['value']:.{decimals}f}"
    if value.get("spread") is not None:
        text += f" ± {scale * value['spread']:.{decimals}f}"
    return text + unit


def metric_text(record: dict, metric: str) -> str:
    """``metric`` of ``record`` as a table shows it ("183.3 ± 2.3", "5.13 %")."""
    value = record["metrics"].get(metric)
    return "—" if value is None else _number(metric, value)


def _link(base: str, path: str) -> str:
    return os.path.relpath(os.path.join(ROOT, path), os.path.join(ROOT, base)).replace(os.sep, "/")


def _flagfile(record: dict) -> str:
    if "flagfile" not in record:
        return "—"
    extra = record.get("extra_flags", "")
    return f"`{record['flagfile']}`" + (f" `{extra}`" if extra else "")


def _ours(record: dict) -> str:
    text = f"**{metric_text(record, record['headline'])}**"
    seeds = record.get("seeds")
    if seeds:
        text += f" (mean ± sd over seeds {', '.join(sorted(seeds))})"
    return text


def _paper(record: dict) -> str:
    paper = record.get("paper")
    if not paper:
        return "—"
    return _number(record["headline"], paper) + (f" ({paper['where']})" if "where" in paper else "")


def _epoch(record: dict) -> str:
    epoch, epochs = record.get("epoch"), record.get("epochs")
    if not epoch:
        return record["epoch_choice"]
    scored = f"{epoch} of {epochs}" if epochs and epoch != epochs else str(epoch)
    return f"{scored}: {record['epoch_choice']}"


def _provenance(record: dict, base: str, name: str) -> str:
    path = _link(base, os.path.join(RECORDS, name + ".json"))
    how = "transcribed" if record.get("transcribed") else "measured"
    return f"[{how}]({path}), `{record.get('commit', '?')[:7]}`"


CELLS = {
    "result": ("Result", lambda r, base, name: f"[{r['title']}]({_link(base, r['page'])})"),
    "run": ("Run", lambda r, base, name: r.get("run", r["title"])),
    "metric": ("Metric", lambda r, base, name: METRICS[r["headline"]][0]),
    "paper": ("Paper", lambda r, base, name: _paper(r)),
    "ours": ("Ours", lambda r, base, name: _ours(r)),
    "flagfile": ("Flagfile", lambda r, base, name: _flagfile(r)),
    "epoch": ("Epoch scored", lambda r, base, name: _epoch(r)),
    "runtime": (
        "Runtime, hardware",
        lambda r, base, name: f"{r.get('runtime', '—')}; {r.get('hardware', '—')}",
    ),
    "record": ("Record", _provenance),
    **{
        m: (heading, lambda r, base, name, m=m: metric_text(r, m))
        for m, (heading, _, _) in METRICS.items()
    },
}
LAYOUTS = {
    "headline": ("result", "metric", "paper", "ours", "flagfile"),
    "protocol": ("run", "parzen", "fid", "kid", "is", "modes_covered", "record"),
    "gan_memorization": (
        "run",
        "memorization_ratio",
        "memorization_share",
        "fid",
        "epoch",
        "record",
    ),
    "cae": ("run", "recon_bce", "contraction", "noisy_recon_bce", "epoch", "record"),
    "helvetica": (
        "run",
        "parzen",
        "fid",
        "modes_covered",
        "memorization_ratio",
        "memorization_share",
        "epoch",
        "record",
    ),
}
# Every other table name (a page's own table) has this layout.
DETAIL = ("run", "paper", "ours", "epoch", "flagfile", "runtime", "record")


def load_records(root: str = ROOT) -> dict[str, dict]:
    """Every record under ``<root>/docs/results``, by name, each checked."""
    directory = os.path.join(root, RECORDS)
    records = {}
    for filename in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if filename.endswith(".json"):
            path = os.path.join(directory, filename)
            with open(path) as f:
                record = json.load(f)
            check_record(record, path, root)
            records[filename.removesuffix(".json")] = record
    return records


def check_record(record: dict, path: str, root: str = ROOT) -> None:
    """Raises UserError naming ``path`` for a record a table could not render."""
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}; every record needs {REQUIRED}.")
    unknown = sorted(set(record["metrics"]) - set(METRICS))
    if unknown:
        raise UserError(f"{path} has unknown metric(s) {unknown}; known: {sorted(METRICS)}.")
    if record["headline"] not in record["metrics"]:
        raise UserError(f"{path}: its headline {record['headline']!r} is not among its metrics.")
    for key in ("flagfile", "page"):
        if key in record and not os.path.isfile(os.path.join(root, record[key])):
            raise UserError(f"{path}: its {key} {record[key]} does not exist.")


def render_table(name: str, records: dict[str, dict], base: str) -> str:
    """The markdown of table ``name``: one row per record listing it, in
    the records' ``order`` (then name), links relative to directory ``base``."""
    rows = sorted((r.get("order", 0), n, r) for n, r in records.items() if name in r["tables"])
    if not rows:
        raise UserError(f"no record in {RECORDS} lists the table {name!r}.")
    columns = LAYOUTS.get(name, DETAIL)
    lines = [
        "| " + " | ".join(CELLS[c][0] for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for _, n, record in rows:
        cells = (CELLS[c][1](record, base, n).replace("|", "\\|") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


_BLOCK = re.compile(r"(<!-- results:(\w+) -->\n)(.*?)(<!-- /results -->)", re.S)


def documents(root: str = ROOT) -> list[str]:
    """README.md and every docs/*.md, relative to ``root``."""
    docs = os.path.join(root, "docs")
    return ["README.md"] + sorted(
        os.path.join("docs", f) for f in os.listdir(docs) if f.endswith(".md")
    )


def render_text(text: str, records: dict[str, dict], base: str) -> str:
    """``text`` with every results block rendered anew."""
    return _BLOCK.sub(
        lambda m: m.group(1) + render_table(m.group(2), records, base) + "\n" + m.group(4), text
    )


def _out_of_date(root: str) -> dict[str, str]:
    """Document -> its text rendered anew, for every document whose results
    tables differ from what the records render."""
    records = load_records(root)
    out = {}
    for doc in documents(root):
        with open(os.path.join(root, doc)) as f:
            text = f.read()
        rendered = render_text(text, records, os.path.dirname(doc))
        if rendered != text:
            out[doc] = rendered
    return out


def stale(root: str = ROOT) -> list[str]:
    """The documents whose results tables differ from what the records render."""
    return list(_out_of_date(root))


def render(root: str = ROOT) -> list[str]:
    """Rewrites every stale document (whole or not at all); returns their names."""
    changed = _out_of_date(root)
    for doc, text in changed.items():
        storage.write_text(os.path.join(root, doc), text)
    return list(changed)


def hardware() -> str:
    """This machine, as a record states it: CPU model, cores, memory, accelerators."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        model = re.search(r"model name\s*:\s*(.*)", info).group(1).strip()
        flags = re.search(r"flags\s*:\s*(.*)", info).group(1).split()
        model += ", AVX-512" if "avx512f" in flags else ", AVX2" if "avx2" in flags else ""
    except (OSError, AttributeError):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    return f"{os.cpu_count()} cores of {model}, {memory:.0f} GiB, " + (
        f"{gpus} GPU(s)" if gpus else "no GPU"
    )


def commit(root: str = ROOT) -> str:
    """The checkout's commit, with ``+changes`` if its tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "gan_zoo", "train.py", "flags"], cwd=root
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def measured_metrics(evaluation: dict) -> dict:
    """The record's metrics from ``gan_zoo.evaluate``'s JSON."""
    out = {}
    samples = evaluation.get("samples", {})
    if "parzen" in samples:
        out["parzen"] = {
            "value": samples["parzen"]["mean"],
            "spread": samples["parzen"]["std_error"],
        }
    for name in ("fid", "modes_covered"):
        if name in samples:
            out[name] = samples[name]
    for name in ("kid", "is"):
        if name in samples:
            out[name] = {"value": samples[name], "spread": samples[f"{name}_std"]}
    if "memorization" in samples:
        out["memorization_ratio"] = samples["memorization"]["ratio"]
        out["memorization_share"] = samples["memorization"]["share_closer"]
    for name in ("test_error", "test_cluster_error", "class_control"):
        if name in evaluation.get("error", {}):
            out[name] = evaluation["error"][name]
    return out


def runtime(workdir: str) -> str:
    """Wall time between the first and last TensorBoard event of a run."""
    import glob

    import tensorflow as tf

    times = []
    for path in glob.glob(os.path.join(workdir, "logs", "**", "events.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            times.append(event.wall_time)
    if not times:
        return "unknown"
    return f"{(max(times) - min(times)) / 60:.0f} min wall (first to last log event)"


def record_run(path: str, workdir: str, evaluation_path: str, **described) -> dict:
    """Writes record ``path`` from a run's workdir and its evaluation JSON.

    Fields a person wrote into an existing record (title, page, tables, paper,
    epoch_choice, ...) are kept unless given in ``described``; the measured
    ones are replaced.
    """
    record = {}
    if os.path.isfile(path):
        with open(path) as f:
            record = json.load(f)
    record.update({k: v for k, v in described.items() if v})
    with open(evaluation_path) as f:
        evaluation = json.load(f)
    record["metrics"] = measured_metrics(evaluation)
    best = os.path.join(workdir, "best.json")
    with open(os.path.join(workdir, "summary.json")) as f:
        summary = json.load(f)
    record["epochs"] = summary["epochs_done"]
    # The VAEs' bound on the test digits is measured by training, every epoch.
    final = summary.get("final_metrics", {})
    if "test_neg_elbo" in final:
        record["metrics"]["neg_elbo"] = final["test_neg_elbo"]
    scored = os.path.basename(os.path.normpath(evaluation.get("source", "")))
    if scored == "best_export" and os.path.isfile(best):
        with open(best) as f:
            record["epoch"] = json.load(f)["epoch"]
    else:
        record["epoch"] = record["epochs"]
    record.update(
        commit=described.get("commit") or commit(),
        hardware=hardware(),
        date=datetime.date.today().isoformat(),
        runtime=described.get("runtime") or runtime(workdir),
    )
    record.pop("transcribed", None)
    check_record(record, path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    storage.write_text(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record


def main(argv):
    del argv
    from absl import flags

    FLAGS = flags.FLAGS
    if FLAGS.verify:
        out_of_date = stale()
        if out_of_date:
            raise UserError(
                f"results tables in {', '.join(out_of_date)} differ from docs/results; run "
                "python -m gan_zoo.results --render."
            )
        print("Every results table matches its records.")
    elif FLAGS.render:
        changed = render()
        print(f"Rendered {', '.join(changed) or 'nothing (every table was up to date)'}.")
    else:
        record = record_run(
            FLAGS.record,
            FLAGS.workdir,
            FLAGS.evaluation,
            runtime=FLAGS.runtime,
            epoch_choice=FLAGS.epoch_choice,
            extra_flags=FLAGS.extra_flags,
            commit=FLAGS.commit,
        )
        print(f"Wrote {FLAGS.record}: {json.dumps(record['metrics'])}")


def check_settings() -> None:
    """The --check of this tool: exactly one mode, and what --record needs."""
    from absl import flags

    FLAGS = flags.FLAGS
    modes = [m for m in ("record", "render", "verify") if FLAGS[m].value]
    if len(modes) != 1:
        raise UserError("pass exactly one of --record=<record.json>, --render and --verify.")
    if FLAGS.record and not (FLAGS.workdir and FLAGS.evaluation):
        raise UserError("--record needs --workdir=<run dir> and --evaluation=<evaluation.json>.")


if __name__ == "__main__":
    from absl import flags

    from gan_zoo import cli

    flags.DEFINE_string("record", None, "Write this record from --workdir and --evaluation.")
    flags.DEFINE_string(
        "workdir", None, "The run's directory (flags.txt, summary.json, best.json)."
    )
    flags.DEFINE_string("evaluation", None, "gan_zoo.evaluate's JSON of the run's export.")
    flags.DEFINE_string("epoch_choice", None, "How the scored epoch was chosen.")
    flags.DEFINE_string("extra_flags", None, "Flags given beside the flagfile.")
    flags.DEFINE_string("runtime", None, "Training runtime (default: from the run's logs).")
    flags.DEFINE_string(
        "commit", None, "The commit the run trained at (default: this checkout's HEAD)."
    )
    flags.DEFINE_bool("render", False, "Rewrite every results table from the records.")
    flags.DEFINE_bool("verify", False, "Exit 2 if any results table differs from its records.")
    cli.run(main, check=check_settings)
