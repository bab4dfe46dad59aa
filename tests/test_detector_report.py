"""AutoencoderAnomalyDetector.report: one self-contained HTML page of X's anomaly scores for a
user with no run folder (histogram with the threshold, ROC with y, the extremes)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from aekit.errors import DataError
from aekit.sklearn import AutoencoderAnomalyDetector

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = d.images[:360].astype(np.float32) / 16  # (N, 8, 8) images in [0, 1]
    y = (d.target[:360] == 1).astype(int)  # ones are the anomalies
    det = AutoencoderAnomalyDetector(epochs=3, mode="novelty", hidden=[32], latent_dim=4)
    return det.fit(x[y == 0]), x, y


@pytest.fixture(scope="module")
def table():
    g = np.random.default_rng(0)
    a = g.normal(size=240)
    df = pd.DataFrame(
        {"x1": a + 0.1 * g.normal(size=240), "x2": 2 * a + 0.1 * g.normal(size=240)},
        index=[f"r{i}" for i in range(240)],
    )
    df["colour"] = np.where(a > 0, "red", "blue")
    det = AutoencoderAnomalyDetector(epochs=30, latent_dim=2, threshold="auto").fit(df)
    new = df.iloc[:40].copy()
    new.iloc[:3, 1] += 8.0  # three rows shifted in x2
    return det, new


def section(html: str, start: str) -> str:
    return html[html.index(start) :]


def test_image_report_has_histogram_roc_both_grids_and_the_auroc(digits, tmp_path):
    det, x, y = digits
    path = det.report(x, y, tmp_path / "r.html")
    html = path.read_text()
    ids = set(re.findall(r"id='fig-([a-z_]+)'", html))
    assert ids == {"scores_hist", "scores_roc", "scores_normal", "scores_anomalous"}
    auc = roc_auc_score(y, det.decision_function(x))
    assert f"the AUROC is {auc:.3f}" in html and f"{int(y.sum())} anomalies" in html
    assert "Anomaly scores and the threshold, by label" in html
    assert "http" not in html.replace("http-equiv", "")  # self-contained: no link out
    assert html.count("data:image/png;base64,") == 4


def test_without_y_there_is_no_roc(digits, tmp_path):
    det, x, _ = digits
    html = det.report(x, path=tmp_path / "r.html").read_text()
    assert "fig-scores_hist" in html and "fig-scores_anomalous" in html
    assert "fig-scores_roc" not in html and "AUROC" not in html


def test_a_dataframe_report_lists_rows_by_their_index_with_their_top_column(table, tmp_path):
    det, new = table
    html = det.report(new, path=tmp_path / "t.html").read_text()
    assert "fig-scores_normal" not in html  # rows are tables, not image grids
    assert "Normal rows make one hump" in html and "mean squared error of their" not in html
    rows = section(html, "The most anomalous rows")
    first = rows[rows.index("<tr><td>") :].split("</tr>")[0]
    label = re.search(r"<tr><td>([^<]+)</td>", first).group(1)
    top = det.explain(new).loc[label].idxmax()  # the oracle: explain()'s largest column
    assert label in {"r0", "r1", "r2"} and f"<td>{top}, " in first and top == "x2"


@pytest.mark.parametrize(
    "y, words",
    [
        (np.full(360, 2), "must be 1 for an anomaly and 0"),
        (np.zeros(10, int), "10 labels for 360 rows"),
        (np.zeros(360, int), "a ROC curve needs both"),
    ],
)
def test_bad_y_is_one_line_and_writes_nothing(digits, tmp_path, y, words):
    det, x, _ = digits
    with pytest.raises(DataError, match=re.escape(words)) as e:
        det.report(x, y, tmp_path / "r.html")
    assert "\n" not in str(e.value) and not (tmp_path / "r.html").exists()


def test_an_unfitted_detector_refuses(tmp_path):
    with pytest.raises(NotFittedError):
        AutoencoderAnomalyDetector().report(np.zeros((4, 3)), path=tmp_path / "r.html")


def test_an_array_report_shows_values_in_x_units_and_the_rule_on_the_training_scores(tmp_path):
    g = np.random.default_rng(1)
    w = g.normal(size=(2, 5))
    x = (g.normal(size=(300, 2)) @ w + 0.05 * g.normal(size=(300, 5))) * 10 + 100
    det = AutoencoderAnomalyDetector(epochs=40, latent_dim=2, contamination=0.05).fit(x)
    new = x[:30].copy()
    new[0, 3] += 200.0  # one row shifted far in column x3
    html = det.report(new, path=tmp_path / "a.html").read_text()
    assert "the highest 5% of the training scores are flagged" in html
    rows = section(html, "The most anomalous rows")
    first = rows[rows.index("<tr><td>") :].split("</tr>")[0]
    assert first.startswith("<tr><td>0</td>") and f"x3 = {new[0, 3]:.4g} (" in first


def test_report_makes_a_missing_folder_and_names_one_it_cannot_write(tmp_path):
    X = load_digits().data[:300]
    det = AutoencoderAnomalyDetector(latent_dim=2, epochs=1).fit(X)
    page = det.report(X[:50], path=tmp_path / "new" / "deeper" / "r.html")
    assert page.is_file() and page.read_text().startswith("<!DOCTYPE html")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match="cannot write the report into .*a_file"):
        det.report(X[:50], path=blocker / "r.html")
