"""Results tables are rendered from the records in docs/results, never typed:
a table that differs from its records fails here."""

import json
import os
import shutil

import pytest
from conftest import ROOT

from gan_zoo import results
from gan_zoo.errors import UserError


def test_every_results_table_is_what_its_records_render():
    assert results.stale() == [], "run python -m gan_zoo.results --render"


def test_every_record_appears_in_a_table_of_the_docs():
    records = results.load_records()
    shown = set()
    for doc in results.documents():
        with open(os.path.join(ROOT, doc)) as f:
            shown |= {m.group(2) for m in results._BLOCK.finditer(f.read())}
    orphans = [name for name, r in records.items() if not set(r["tables"]) & shown]
    assert records and not orphans


@pytest.fixture
def checkout(tmp_path):
    """A copy of the docs, records and flagfiles to edit."""
    for part in ("docs", "flags"):
        shutil.copytree(os.path.join(ROOT, part), tmp_path / part)
    shutil.copy(os.path.join(ROOT, "README.md"), tmp_path / "README.md")
    return tmp_path


def test_an_edited_number_is_caught_and_rendered_back(checkout):
    readme = checkout / "README.md"
    text = readme.read_text()
    start = text.index("<!-- results:headline -->")
    row = text.index("| [", start)
    cell = text.index("**", row)  # the bold "Ours" cell
    edited = text[: cell + 2] + "9" + text[cell + 2 :]
    readme.write_text(edited)
    assert results.stale(str(checkout)) == ["README.md"]
    assert results.render(str(checkout)) == ["README.md"]
    assert readme.read_text() == text


def test_a_changed_record_changes_its_tables(checkout):
    records = results.load_records(str(checkout))
    name = next(n for n, r in records.items() if "headline" in r["tables"])
    path = checkout / results.RECORDS / f"{name}.json"
    record = json.loads(path.read_text())
    headline = record["metrics"][record["headline"]]
    if isinstance(headline, dict):
        headline["value"] += 1
    else:
        record["metrics"][record["headline"]] = headline + 1
    path.write_text(json.dumps(record))
    assert "README.md" in results.stale(str(checkout))


def test_numbers_read_as_the_tables_show_them():
    record = {
        "metrics": {
            "parzen": {"value": 183.349, "spread": 2.31},
            "test_error": {"value": 0.0513, "spread": 0.0093},
            "fid": 5.08,
            "modes_covered": 10,
        }
    }
    assert results.metric_text(record, "parzen") == "183.3 ± 2.3"
    assert results.metric_text(record, "test_error") == "5.13 ± 0.93 %"
    assert results.metric_text(record, "fid") == "5.1"
    assert results.metric_text(record, "modes_covered") == "10"
    assert results.metric_text(record, "kid") == "—"


def test_a_bad_record_is_named(checkout):
    path = checkout / results.RECORDS / "broken.json"
    path.write_text(json.dumps({"title": "x"}))
    with pytest.raises(UserError, match="broken.json lacks"):
        results.load_records(str(checkout))
    record = json.loads(next((checkout / results.RECORDS).glob("[!b]*.json")).read_text())
    path.write_text(json.dumps({**record, "flagfile": "flags/gone.flags"}))
    with pytest.raises(UserError, match="flags/gone.flags does not exist"):
        results.load_records(str(checkout))


def test_a_record_is_written_from_a_run_and_its_evaluation(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "summary.json").write_text(
        json.dumps({"epochs_done": 30, "final_metrics": {"test_neg_elbo": 101.25}})
    )
    (workdir / "best.json").write_text(json.dumps({"epoch": 27, "metric": "parzen"}))
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(
        json.dumps(
            {
                "source": str(workdir / "best_export"),
                "samples": {
                    "parzen": {"mean": 250.0, "std_error": 1.5},
                    "fid": 70.0,
                    "kid": 20.0,
                    "kid_std": 2.0,
                    "modes_covered": 10,
                },
            }
        )
    )
    path = tmp_path / "docs" / "results" / "run.json"
    path.parent.mkdir(parents=True)
    # What a person writes once; the tool fills in what was measured.
    path.write_text(
        json.dumps(
            {
                "title": "AAE Parzen",
                "page": "docs/aae.md",
                "tables": ["aae"],
                "flagfile": "flags/aae_mnist_parzen.flags",
                "headline": "parzen",
                "epoch_choice": "the best validation Parzen",
                "transcribed": "old numbers",
            }
        )
    )
    record = results.record_run(str(path), str(workdir), str(evaluation), runtime="5 min")
    assert record["metrics"]["parzen"] == {"value": 250.0, "spread": 1.5}
    assert record["metrics"]["kid"] == {"value": 20.0, "spread": 2.0}
    assert record["metrics"]["neg_elbo"] == 101.25
    assert (record["epoch"], record["epochs"]) == (27, 30)
    assert record["title"] == "AAE Parzen" and "transcribed" not in record
    assert record["commit"] != "unknown" and "cores" in record["hardware"]
    assert json.loads(path.read_text()) == record
