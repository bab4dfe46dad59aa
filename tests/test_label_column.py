"""A CSV's label column: `aekit train --label-column` keeps it out of the model's input, and
`aekit score --label-column` reads the labels from it (for the ROC curve), never as an input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from aekit.cli.main import main


def write_rows(path, n=120, seed=0, label=True, extra=None):
    """Rows a..d (four planted outliers shifted by 4) and, with ``label``, is_fraud (1 on them)."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 4))
    y = (np.arange(n) % 30 == 0).astype(int)
    x[y == 1] += 4
    head = ["a", "b", "c", "d"] + ["is_fraud"] * label + [extra] * bool(extra)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head)
        for r, v in zip(x, y):
            w.writerow([f"{c:.4f}" for c in r] + [v] * label + [7] * bool(extra))
    return y


def train(tmp, name, data, *extra):
    args = ["train", "--data", str(data), "--out", str(tmp), "--name", name, "--epochs", "2"]
    assert main([*args, "--no-progress", "--set", "train.recon_every=0", *extra]) == 0
    return tmp / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lc")
    write_rows(tmp / "rows.csv")
    leaky = train(tmp, "leaky", tmp / "rows.csv")
    clean = train(tmp, "clean", tmp / "rows.csv", "--label-column", "is_fraud")
    return tmp, leaky, clean


def features(run):
    return json.loads((run / "config.json").read_text())["data"]["features"]


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_train_label_column_keeps_the_label_out_of_the_model(runs):
    _, leaky, clean = runs
    assert features(leaky) == ["a", "b", "c", "d", "is_fraud"]  # a plain name: an input
    assert features(clean) == ["a", "b", "c", "d"]
    cfg = json.loads((clean / "config.json").read_text())["config"]["data"]
    assert cfg["label_column"] == "is_fraud"


def test_score_label_column_gives_the_truth_and_the_roc(runs, tmp_path):
    tmp, _, clean = runs
    y = write_rows(tmp_path / "new.csv", seed=1)
    out = tmp_path / "s.csv"
    args = ["score", str(clean), "--data", str(tmp_path / "new.csv"), "--split", "all"]
    assert main([*args, "--label-column", "is_fraud", "--out", str(out), "--report"]) == 0
    rows = read(out)
    assert [int(r["true_anomaly"]) for r in rows] == y.tolist()
    html = (clean / "report.html").read_text()
    assert "id='fig-scores_roc'" in html and "the column is_fraud of new" in html


def test_text_labels_are_written_as_they_are_not_as_class_numbers(runs, tmp_path):
    """ "ok"/"fraud" labels were written as class numbers, and "ok" became 1, the number the
    anomaly column uses for an anomaly."""
    tmp, _, clean = runs
    y = write_rows(tmp_path / "new.csv", seed=2)
    text = (tmp_path / "new.csv").read_text().splitlines()
    rows = [ln.rsplit(",", 1) for ln in text[1:]]
    named = [text[0]] + [f"{a},{'fraud' if v == '1' else 'ok'}" for a, v in rows]
    (tmp_path / "named.csv").write_text("\n".join(named) + "\n")
    out = tmp_path / "s.csv"
    args = ["score", str(clean), "--data", str(tmp_path / "named.csv"), "--split", "all"]
    assert main([*args, "--label-column", "is_fraud", "--normal", "ok", "--out", str(out)]) == 0
    rows = read(out)
    assert [r["label"] for r in rows] == ["fraud" if v else "ok" for v in y]
    assert [int(r["true_anomaly"]) for r in rows] == y.tolist()


def test_a_run_trained_with_a_label_column_reads_it_when_there_and_scores_without(runs, tmp_path):
    _, _, clean = runs
    y = write_rows(tmp_path / "new.csv", seed=2)
    write_rows(tmp_path / "unlabeled.csv", seed=2, label=False)
    args = ["score", str(clean), "--split", "all", "--out"]
    assert main([*args, str(tmp_path / "a.csv"), "--data", str(tmp_path / "new.csv")]) == 0
    assert main([*args, str(tmp_path / "b.csv"), "--data", str(tmp_path / "unlabeled.csv")]) == 0
    a, b = read(tmp_path / "a.csv"), read(tmp_path / "b.csv")
    assert [int(r["true_anomaly"]) for r in a] == y.tolist() and "true_anomaly" not in b[0]
    assert [r["score"] for r in a] == [r["score"] for r in b]  # the label was never an input
    x = np.loadtxt(tmp_path / "unlabeled.csv", delimiter=",", skiprows=1)
    np.save(tmp_path / "x.npy", x)  # the same rows as an array: no columns, no labels
    assert main([*args, str(tmp_path / "c.csv"), "--data", str(tmp_path / "x.npy")]) == 0
    assert [r["score"] for r in read(tmp_path / "c.csv")] == [r["score"] for r in b]


@pytest.mark.parametrize(
    "run, extra, words",
    [
        ("clean", ["--label-column", "fraud"], "has no column 'fraud'; its columns are a, b, c"),
        ("clean", ["--label-column", "is_fraud", "--labels", "y.npy"], "use one of them"),
        ("leaky", ["--label-column", "is_fraud"], "--set data.label_column=is_fraud"),
        ("clean", ["--data", "EXTRA"], "the column(s) note that clean was not trained on"),
    ],
)
def test_bad_label_columns_are_one_line_and_write_nothing(
    runs, tmp_path, capsys, run, extra, words
):
    tmp = runs[0]
    write_rows(tmp_path / "extra.csv", label=False, extra="note")
    extra = [str(tmp_path / "extra.csv") if e == "EXTRA" else e for e in extra]
    out = tmp_path / "s.csv"
    args = ["score", str(tmp / run), "--split", "all", "--out", str(out)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err and not out.exists()


def test_train_refuses_a_label_column_it_cannot_find(tmp_path, capsys):
    write_rows(tmp_path / "rows.csv")
    args = ["train", "--data", str(tmp_path / "rows.csv"), "--out", str(tmp_path)]
    assert main([*args, "--label-column", "Fraud", "--no-progress"]) == 2
    assert "its columns are a, b, c, d, is_fraud" in capsys.readouterr().err
    assert main(["train", "--data", "digits", "--out", str(tmp_path), "--label-column", "y"]) == 2
    assert "built-in dataset" in capsys.readouterr().err
    assert not any(p.is_dir() for p in tmp_path.iterdir())  # no run folder started


def test_a_mixed_table_reads_its_label_column_and_the_rerendered_report_keeps_the_rows(tmp_path):
    g = np.random.default_rng(0)
    lines = ["x1,colour,bad"]
    for i in range(90):
        a = g.normal()
        bad = int(i % 15 == 0)
        colour = ("red" if a > 0 else "blue") if not bad else ("blue" if a > 0 else "red")
        lines.append(f"{a:.4f},{colour},{bad}")
    (tmp_path / "mix.csv").write_text("\n".join(lines) + "\n")
    run = train(tmp_path, "m", tmp_path / "mix.csv", "--label-column", "bad")
    assert features(run) == ["x1", "colour"]
    out = tmp_path / "s.csv"
    args = ["score", str(run), "--data", str(tmp_path / "mix.csv"), "--split", "all"]
    assert main([*args, "--label-column", "bad", "--out", str(out), "--report"]) == 0
    assert sum(int(r["true_anomaly"]) for r in read(out)) == 6
    assert main(["report", str(run)]) == 0  # the re-rendered report keeps the section
    html = (run / "report.html").read_text()
    assert "The most anomalous rows" in html and "id='fig-scores_roc'" in html
