"""`aekit score`: one score and flag per sample, in input order, with the threshold used."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

import aekit
from aekit.cli.main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "--data", "digits", "--epochs", "2", "--out", str(out), "--name", "d",
                 "--no-progress", "--set", "train.recon_every=0"]) == 0  # fmt: skip
    return out / "d"


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_scores_every_sample_in_input_order_with_its_flag(run_dir, tmp_path, capsys):
    g = np.random.default_rng(0)
    x = g.integers(0, 17, (50, 8, 8)).astype(np.float32) / 16
    x[7] = 1.0 - x[7]  # nothing like a digit... and one all-white image
    x[11] = 1.0
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "s.csv"
    args = ["score", str(run_dir), "--data", str(tmp_path / "x.npy"), "--split", "all"]
    assert main([*args, "--threshold", "contamination:0.1", "--out", str(out)]) == 0
    rows = read(out)
    assert [int(r["index"]) for r in rows] == list(range(50))
    assert sum(int(r["anomaly"]) for r in rows) == 5  # 10% of 50
    assert len({r["threshold"] for r in rows}) == 1
    scores = [float(r["score"]) for r in rows]
    assert scores[11] == max(scores)  # the all-white image is the most anomalous
    assert "5 flagged" in capsys.readouterr().out


def test_other_data_without_a_split_is_scored_and_evaluated_whole(run_dir, tmp_path, capsys):
    """A file the run never saw has no test split: "test" (the default) means all of it, not
    the 10% a validation split of it would be (the run's own data keeps its validation)."""
    x = np.random.default_rng(1).integers(0, 17, (40, 8, 8)).astype(np.float32) / 16
    np.save(tmp_path / "new.npy", x)
    out = tmp_path / "s.csv"
    assert (
        main(["score", str(run_dir), "--data", str(tmp_path / "new.npy"), "--out", str(out)]) == 0
    )
    assert len(read(out)) == 40
    assert "40 scores of new all" in capsys.readouterr().out
    assert main(["eval", str(run_dir), "--data", str(tmp_path / "new.npy")]) == 0
    assert "(all split, 40 images" in capsys.readouterr().out
    assert (run_dir / "eval_new_all.json").is_file()
    assert main(["score", str(run_dir), "--out", str(out), "--threshold", "auto"]) == 0
    assert len(read(out)) == 180  # the run's own digits: its validation split


def test_the_runs_own_file_under_another_spelling_keeps_its_validation_split(tmp_path, monkeypatch):
    x = np.random.default_rng(2).integers(0, 256, (300, 8, 8)).astype(np.uint8)
    np.save(tmp_path / "own.npy", x)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "own.npy", "--epochs", "1", "--out", "runs", "--name", "o",
                 "--no-progress", "--set", "train.recon_every=0"]) == 0  # fmt: skip
    run = aekit.Run.load(tmp_path / "runs" / "o")
    assert len(run.data("test", "./own.npy")) == len(run.data("test")) == 30  # 10% of 300
    assert len(run.data("test", str(tmp_path / "own.npy"))) == 30


def test_out_in_a_new_folder_is_made_and_a_file_in_the_way_is_one_line(run_dir, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "s.csv"
    assert main(["score", str(run_dir), "--split", "val", "--out", str(out)]) == 0
    assert len(read(out)) > 0
    (tmp_path / "a_file").write_text("not a folder")
    assert main(["score", str(run_dir), "--out", str(tmp_path / "a_file" / "s.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aekit: error: cannot use") and "a_file" in err and "\n" not in err


def test_fpr_calibrates_on_the_validation_split(run_dir, tmp_path):
    out = tmp_path / "s.csv"
    assert main(["score", str(run_dir), "--split", "val", "--out", str(out)]) == 0
    rows = read(out)
    share = sum(int(r["anomaly"]) for r in rows) / len(rows)
    assert 0.0 < share <= 0.06 and "label" in rows[0]  # scored on the split it calibrated on


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--threshold", "fpr:0.7"], "above 0 and below 0.5"),
        (["--threshold", "top5"], "contamination:Q"),
        (["--data", "DATA", "--out", "DATA"], "is the input data"),
        (["--data", "BIG", "--out", "OUT"], "[1, 8, 8]; pass images of that shape (channels"),
    ],
)
def test_bad_score_requests_are_one_line_and_write_nothing(run_dir, tmp_path, capsys, extra, words):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((3, 8, 8), np.float32))
    np.save(tmp_path / "big.npy", np.zeros((3, 10, 10), np.float32))  # not 8 x 8
    names = {"DATA": str(data), "BIG": str(tmp_path / "big.npy"), "OUT": str(tmp_path / "s.csv")}
    extra = [names.get(e, e) for e in extra]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["score", str(run_dir), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aekit: error:") and err.count("\n") == 1 and words in err
    assert "--image-size" not in err  # a flag score does not have
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_new_csv_is_scaled_as_the_training_rows_not_by_its_own_range(tmp_path):
    g = np.random.default_rng(0)
    x = g.normal(size=(200, 2)) @ g.normal(size=(2, 4)) * [1, 10, 100, 5] + [0, 50, -20, 3]
    header = "a,b,c,d"
    np.savetxt(tmp_path / "train.csv", x, delimiter=",", header=header, comments="")
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--epochs", "2", "--out",
                 str(tmp_path), "--name", "t", "--no-progress"]) == 0  # fmt: skip
    new = x[:20] + 0.1
    np.savetxt(tmp_path / "new.csv", new, delimiter=",", header=header, comments="")
    np.savetxt(tmp_path / "new_plus.csv", np.vstack([new, new[:1] * 50]), delimiter=",",
               header=header, comments="")  # fmt: skip
    scores = []
    for name in ("new", "new_plus"):
        out = tmp_path / f"{name}_s.csv"
        args = ["score", str(tmp_path / "t"), "--data", str(tmp_path / f"{name}.csv")]
        assert main([*args, "--split", "all", "--out", str(out)]) == 0
        scores.append([float(r["score"]) for r in read(out)][:20])
    assert scores[0] == scores[1]  # an extreme row added to the file changes no other score


def test_the_summary_names_the_split_all_as_all(run_dir, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((6, 8, 8), np.float32))
    args = ["score", str(run_dir), "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "s")]
    assert main([*args, "--split", "all", "--threshold", "auto"]) == 0
    out = capsys.readouterr().out
    assert "6 scores of x all;" in out and " train;" not in out


def test_a_locked_run_refuses_score_report_and_report_saying_what_to_do(run_dir, tmp_path, capsys):
    from aekit.training.run_dir import run_lock

    before = (run_dir / "report.html").read_bytes()
    with run_lock(run_dir):  # as another process scoring or training it would
        assert main(["score", str(run_dir), "--report", "--out", str(tmp_path / "s.csv")]) == 2
        score_err = capsys.readouterr().err
        assert main(["report", str(run_dir)]) == 2
        report_err = capsys.readouterr().err
    for err in (score_err, report_err):
        assert err.count("\n") == 1 and "in use by another aekit process" in err
        assert "training or resuming" not in err and "--name" not in err
    assert "or score without --report" in score_err
    assert (run_dir / "report.html").read_bytes() == before


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A run trained on a CSV of columns a, b, c, d (and a label), and that CSV."""
    tmp = tmp_path_factory.mktemp("csv")
    g = np.random.default_rng(0)
    x = g.normal(size=(120, 2)) @ g.normal(size=(2, 4)) * [1, 10, 100, 5]
    rows = [["a", "b", "c", "d", "label"]] + [[*r, i % 2] for i, r in enumerate(x.round(4))]
    write_csv(tmp / "t.csv", rows)
    args = ["train", "--data", str(tmp / "t.csv"), "--epochs", "2", "--out", str(tmp)]
    assert main([*args, "--name", "t", "--no-progress", "--set", "data.label_column=label"]) == 0
    return tmp / "t", rows


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def columns(rows, order, rename=None):
    """``rows`` (a header, then values) with the columns ``order`` (names), renamed."""
    idx = [rows[0].index(c) for c in order]
    head = [(rename or {}).get(c, c) for c in order]
    return [head] + [[r[j] for j in idx] for r in rows[1:]]


def score_csv(run, rows, tmp_path, name="new"):
    write_csv(tmp_path / f"{name}.csv", rows)
    out = tmp_path / f"{name}_s.csv"
    args = ["score", str(run), "--data", str(tmp_path / f"{name}.csv"), "--split", "all"]
    code = main([*args, "--out", str(out)])
    return code, ([float(r["score"]) for r in read(out)] if code == 0 else None)


def test_a_csv_is_scored_by_column_name_not_position(csv_run, tmp_path, capsys):
    run, rows = csv_run
    _, want = score_csv(run, rows, tmp_path, "same")
    code, got = score_csv(run, columns(rows, ["d", "c", "label", "b", "a"]), tmp_path)
    assert code == 0 and got == want  # the columns were put back in the training order
    ev = [aekit.Run.load(run).evaluate("all", str(tmp_path / f), write=False)["model"]
          for f in ("new.csv", "same.csv")]  # fmt: skip
    assert ev[0] == ev[1]
    cases = [
        (columns(rows, ["a", "b", "c", "d"], {"d": "D"}), "no column(s) d, which t was trained on, and has D it was not"),
        (columns(rows, ["a", "b", "c"]), "no column(s) d, which t was trained on; pass a table with the columns a, b, c, d"),
    ]  # fmt: skip
    for bad, words in cases:
        code, _ = score_csv(run, bad, tmp_path, "bad")
        err = capsys.readouterr().err.strip()
        assert code == 2 and words in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "bad_s.csv").exists()


def test_a_run_without_column_names_takes_a_csv_by_position(csv_run, tmp_path):
    run, rows = csv_run
    old = tmp_path / "old"
    shutil.copytree(run, old)
    info = json.loads((old / "config.json").read_text())
    del info["data"]["features"]  # as a run from before the names were kept
    (old / "config.json").write_text(json.dumps(info))
    _, want = score_csv(old, rows, tmp_path, "same")
    swapped = columns(rows, ["b", "a", "c", "d", "label"], {"a": "b", "b": "a"})
    code, got = score_csv(old, swapped, tmp_path)
    assert code == 0 and got == score_csv(run, swapped, tmp_path, "named")[1] != want


def test_cells_a_numbers_run_cannot_read_are_named_by_row_and_column(csv_run, tmp_path, capsys):
    run, rows = csv_run
    empty = [list(r) for r in rows]
    empty[4][1] = ""  # row 4, column b
    words = [list(r) for r in rows]
    for r in words[1:]:
        r[3] = f"w{int(float(r[3])) % 3}"  # column d: text
    flags = [list(r) for r in rows]
    flags[2][0] = "true"
    headless = [r[:3] for r in rows[1:]]  # three nameless columns: taken by position
    cases = [
        (empty, "row 4 has an empty (or NA) cell in column 'b', and t was trained without missing cells"),
        (words, "column 'd' holds text ('w"),
        (flags, "not plain numbers (true/false?)"),
        (headless, "samples of shape [3] but the model takes [4]; pass rows of 4 values"),
    ]  # fmt: skip
    for bad, want in cases:
        code, _ = score_csv(run, bad, tmp_path, "bad")
        err = capsys.readouterr().err.strip()
        assert code == 2 and want in err and len(err.splitlines()) == 1, err
        assert "--image-size" not in err and "Traceback" not in err
