"""`aekit score --report`: the Anomaly scores section of report.html (histogram with the
threshold, ROC when labels are known, the most normal and most anomalous inputs), read from
what `aekit score` wrote, without losing the rest of the report."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _tiny_runs import tiny_run

from aekit.cli.main import main
from aekit.errors import DataError
from aekit.report.anomaly import anomaly_truth, read_label_file
from aekit.viz.scores import heavy_tailed, score_histogram

FIGS = ("scores_hist", "scores_roc", "scores_normal", "scores_anomalous")


@pytest.fixture
def run_dir(tmp_path):
    """A private copy of a tiny digits run (the shared one stays as it is)."""
    return shutil.copytree(tiny_run("mlp"), tmp_path / "d")


def score(run_dir, *extra, out=None):
    out = out or run_dir.parent / "s.csv"
    return main(["score", str(run_dir), "--out", str(out), "--report", *extra])


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """One copy of the tiny run scored with `--normal 0`, shared by the tests that only read
    it: (run folder, its report before scoring, what `aekit score` printed)."""
    import contextlib
    import io

    d = shutil.copytree(tiny_run("mlp"), tmp_path_factory.mktemp("scored") / "d")
    before = (d / "report.html").read_text()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert score(d, "--normal", "0") == 0
    return d, before, out.getvalue()


def test_scored_report_has_histogram_roc_and_both_grids_and_keeps_the_rest(scored):
    run_dir, before, printed = scored
    assert printed.strip().endswith("report.html")
    html = (run_dir / "report.html").read_text()
    for stem in FIGS:
        assert f"id='fig-{stem}'" in html and (run_dir / "plots" / f"{stem}.png").is_file()
    assert "Anomaly scores" in html and "the AUROC is" in html
    lead = html.split("id='anomaly-scores'")[1].split("</p>")[0]
    assert "<code>aekit score" in lead and "`" not in lead
    assert "The most anomalous inputs" in html and "every threshold at once" in html
    for fig in ("fig-loss", "fig-recon", "fig-latent", "Training log"):  # nothing lost
        assert fig in before and fig in html
    assert html.count("<figure") == before.count("<figure") + len(FIGS)
    # the report reads what aekit score wrote: the same CSV, byte for byte
    assert (run_dir / "scores" / "scores.csv").read_text() == (run_dir.parent / "s.csv").read_text()


def test_report_rewrite_keeps_the_scores_section(scored, tmp_path):
    run_dir = shutil.copytree(scored[0], tmp_path / "d")
    assert main(["report", str(run_dir)]) == 0
    html = (run_dir / "report.html").read_text()
    assert all(f"id='fig-{stem}'" in html for stem in FIGS)


def test_auroc_in_words_matches_sklearn(scored):
    from sklearn.metrics import roc_auc_score

    run_dir = scored[0]
    rows = np.genfromtxt(run_dir / "scores" / "scores.csv", delimiter=",", names=True)
    assert set(rows["true_anomaly"]) == {0, 1}
    assert np.array_equal(rows["true_anomaly"] == 0, rows["label"] == 0)
    auc = roc_auc_score(rows["true_anomaly"], rows["score"])
    assert f"the AUROC is {auc:.3f}" in (run_dir / "report.html").read_text()


def test_without_labels_no_roc_and_no_crash(run_dir, tmp_path):
    x = np.random.default_rng(0).random((30, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert score(run_dir, "--data", str(tmp_path / "x.npy"), "--split", "all") == 0
    html = (run_dir / "report.html").read_text()
    assert "id='fig-scores_hist'" in html and "id='fig-scores_anomalous'" in html
    assert "fig-scores_roc" not in html and "AUROC" not in html
    assert not (run_dir / "plots" / "scores_roc.png").exists()


def test_data_labels_that_are_not_yes_no_give_a_note_not_an_error(run_dir):
    assert score(run_dir) == 0  # digits: ten classes, no --normal
    html = (run_dir / "report.html").read_text()
    assert "fig-scores_roc" not in html and "say which are normal with --normal" in html


def test_one_row_score_set(run_dir, tmp_path):
    np.save(tmp_path / "one.npy", np.full((1, 8, 8), 0.5, np.float32))
    args = ["--data", str(tmp_path / "one.npy"), "--split", "all"]
    assert score(run_dir, *args, "--threshold", "contamination:0.1") == 0
    html = (run_dir / "report.html").read_text()
    assert "1 sample of" in html and "was scored" in html
    assert "id='fig-scores_normal'" in html and "id='fig-scores_anomalous'" in html


@pytest.mark.parametrize(
    "labels, words",
    [
        (np.zeros(7, int), "7 labels for 180 samples"),
        (np.zeros(180, int), "every sample is normal"),
        (np.ones(180, int), "every sample is an anomaly"),
    ],
)
def test_bad_labels_are_one_line_and_write_nothing(run_dir, tmp_path, capsys, labels, words):
    np.save(tmp_path / "y.npy", labels)
    before = sorted(p.name for p in run_dir.iterdir())
    out = tmp_path / "s.csv"
    assert score(run_dir, "--labels", str(tmp_path / "y.npy"), out=out) == 2
    err = capsys.readouterr().err
    assert err.startswith("aekit: error:") and err.count("\n") == 1 and words in err, err
    assert not out.exists() and sorted(p.name for p in run_dir.iterdir()) == before


def test_a_class_that_does_not_exist_is_one_line(run_dir, capsys):
    assert score(run_dir, "--normal", "cat") == 2
    assert "has no class 'cat'" in capsys.readouterr().err


def test_label_files_and_words(tmp_path):
    (tmp_path / "a.csv").write_text("anomaly\n0\n1\n1.0\n")
    assert read_label_file(tmp_path / "a.csv") == ["0", "1", "1"]
    (tmp_path / "b.csv").write_text("id,label\n1,good\n2,defect\n")
    assert read_label_file(tmp_path / "b.csv") == ["good", "defect"]
    assert anomaly_truth(["good", "Defect", "ok"], 3, None, "x").tolist() == [0, 1, 0]
    assert anomaly_truth(["a", "b", "c"], 3, ["a", "c"], "x").tolist() == [0, 1, 0]
    with pytest.raises(DataError, match="--normal"):
        anomaly_truth(["a", "b"], 2, None, "x")
    (tmp_path / "c.csv").write_text("p,q\n1,2\n")
    with pytest.raises(DataError, match="name the label column"):
        read_label_file(tmp_path / "c.csv")


def test_heavy_tailed_scores_get_a_log_axis():
    g = np.random.default_rng(0)
    tame, wild = g.uniform(1, 2, 500), np.exp(g.normal(0, 3, 500))
    assert not heavy_tailed(tame) and heavy_tailed(wild)
    assert score_histogram(wild, 10.0).axes[0].get_xscale() == "log"
    assert score_histogram(tame, 1.5).axes[0].get_xscale() == "linear"


def test_a_model_changed_after_scoring_is_said(run_dir):
    assert score(run_dir, "--normal", "0") == 0
    from safetensors.torch import load_file, save_file

    from aekit.report.anomaly import score_section
    from aekit.run import Run

    state = load_file(str(run_dir / "model.safetensors"))
    save_file({k: v + 0.01 for k, v in state.items()}, str(run_dir / "model.safetensors"))
    sec = score_section(Run.load(run_dir))  # as if trained further
    assert any("model changed after these scores" in n for n in sec.notes)


def test_table_rows_name_the_planted_column(tmp_path):
    g = np.random.default_rng(0)
    w = g.normal(size=(2, 6))
    train = g.normal(size=(400, 2)) @ w + 0.05 * g.normal(size=(400, 6))
    head = ",".join(f"c{i}" for i in range(6))
    np.savetxt(tmp_path / "t.csv", train, delimiter=",", header=head, comments="")
    args = ["train", "--data", str(tmp_path / "t.csv"), "--out", str(tmp_path), "--name", "t"]
    assert main([*args, "--epochs", "60", "--no-progress", "--set", "model.latent_dim=2"]) == 0
    new = g.normal(size=(60, 2)) @ w + 0.05 * g.normal(size=(60, 6))
    new[:4, 4] += 4 * train[:, 4].std()  # four rows shifted in column c4
    np.savetxt(tmp_path / "new.csv", new, delimiter=",", header=head, comments="")
    np.save(tmp_path / "y.npy", (np.arange(60) < 4).astype(int))
    run = tmp_path / "t"
    extra = ["--data", str(tmp_path / "new.csv"), "--split", "all", "--labels"]
    assert score(run, *extra, str(tmp_path / "y.npy")) == 0
    html = (run / "report.html").read_text()
    assert "The most anomalous rows" in html and "fig-scores_normal" not in html
    table = html[html.index("The most anomalous rows") :]
    first = table[table.index("<tr><td>") :].split("</tr>")[0]
    assert "<td>c4 = " in first  # the top contribution of the top row is the planted column


def test_an_image_folder_of_good_and_defect_needs_no_normal(run_dir, tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits, g = load_digits().images, np.random.default_rng(0)
    for sub, imgs in (("good", digits[:12] / 16), ("defect", g.random((4, 8, 8)))):
        (tmp_path / "imgs" / sub).mkdir(parents=True)
        for i, a in enumerate(imgs):
            Image.fromarray((a * 255).astype(np.uint8)).save(tmp_path / "imgs" / sub / f"{i}.png")
    assert score(run_dir, "--data", str(tmp_path / "imgs"), "--split", "all") == 0
    html = (run_dir / "report.html").read_text()
    assert "id='fig-scores_roc'" in html and "4 anomalies, 12 normal" in html


def test_a_mixed_table_names_the_swapped_category(tmp_path):
    g = np.random.default_rng(0)

    def table(n, path, swapped=0):
        a = g.normal(size=n)
        lines = ["x1,x2,colour"]
        for i in range(n):
            red = (a[i] > 0) != (i < swapped)  # the first rows' colour swapped
            x1, x2 = a[i] + 0.1 * g.normal(), 2 * a[i] + 0.1 * g.normal()
            lines.append(f"{x1:.4f},{x2:.4f},{'red' if red else 'blue'}")
        path.write_text("\n".join(lines) + "\n")

    table(400, tmp_path / "mix.csv")
    table(60, tmp_path / "new.csv", swapped=5)
    args = ["train", "--data", str(tmp_path / "mix.csv"), "--out", str(tmp_path), "--name", "m"]
    assert main([*args, "--epochs", "30", "--no-progress"]) == 0
    extra = ["--data", str(tmp_path / "new.csv"), "--split", "all", "--threshold", "auto"]
    assert score(tmp_path / "m", *extra) == 0
    html = (tmp_path / "m" / "report.html").read_text()
    assert "the sum of their column terms" in html
    table_html = html[html.index("The most anomalous rows") :]
    first = table_html[table_html.index("<tr><td>") :].split("</tr>")[0]
    assert "<td>colour, " in first  # the swapped category is named first
