"""Tables as people have them: numbers, booleans, categories and missing cells through the
detector, the reducer and the CLI; explain() names the column a planted anomaly is in."""

from __future__ import annotations

import numpy as np
import pytest

import aekit
from aekit.data.tabular import MISSING, TableSpec, table_from_rows
from aekit.sklearn import AutoencoderAnomalyDetector, AutoencoderReducer

pd = pytest.importorskip("pandas")

FAST = dict(hidden=[32], latent_dim=4, epochs=40, batch_size=64, lr=1e-2)


def mixed_table(n: int = 2000, seed: int = 0):
    """Four correlated numbers, three categories tied to them, a boolean, and a column with
    10% of its cells missing at random."""
    rng = np.random.default_rng(seed)
    z1, z2 = rng.normal(size=n), rng.normal(size=n)
    noise = lambda: 0.1 * rng.normal(size=n)  # noqa: E731
    df = pd.DataFrame(
        {
            "a": z1 + noise(),
            "b": 2 * z1 - z2 + noise(),
            "c": 3 * z2 + 10 + noise(),
            "d": z1 + z2 + noise(),
            "size": np.where(z1 < -0.43, "low", np.where(z1 < 0.43, "mid", "high")),
            "side": pd.Categorical(np.where(z2 > 0, "up", "down")),
            "quad": [f"q{int(u > 0)}{int(v > 0)}" for u, v in zip(z1, z2)],
            "pos": z1 + z2 > 0,
        }
    )
    df.loc[rng.random(n) < 0.1, "d"] = np.nan
    return df


def planted(df: pd.DataFrame, seed: int = 1, k: int = 50):
    """Three kinds of anomaly, k rows each, copied from ``df``: (rows, planted column)."""
    rng = np.random.default_rng(seed)
    shifted = df.sample(k, random_state=seed).copy()
    shifted["a"] += rng.choice([-6.0, 6.0], size=k)
    swapped = df.sample(k, random_state=seed + 1).copy()
    far = np.where(swapped["a"] > 0, "low", "high")  # the category farthest from the truth
    swapped["size"] = np.where(swapped["size"] == "low", "high", far)
    gone = df.sample(k, random_state=seed + 2).copy()
    gone["c"] = np.nan  # c is never missing in training
    return [(shifted, "a"), (swapped, "size"), (gone, "c")]


@pytest.fixture(scope="module")
def table():
    return mixed_table()


@pytest.fixture(scope="module")
def detector(table):
    return AutoencoderAnomalyDetector(**FAST, mode="novelty").fit(table)


def test_explain_names_the_planted_column_for_nine_in_ten_rows(detector, table):
    for rows, column in planted(table):
        top = detector.explain(rows).idxmax(axis=1)
        share = float((top == column).mean())
        assert share >= 0.9, f"{column}: top contribution in {share:.0%} of planted rows"


def test_contributions_sum_to_the_score_and_planted_rows_score_higher(detector, table):
    contrib = detector.explain(table.iloc[:200])
    assert list(contrib.columns) == list(table.columns)
    np.testing.assert_allclose(
        contrib.sum(axis=1).to_numpy(), detector.decision_function(table.iloc[:200]), rtol=1e-9
    )
    normal = np.median(detector.decision_function(table))
    for rows, _ in planted(table):
        assert np.median(detector.decision_function(rows)) > 3 * normal


def test_unseen_category_goes_to_the_unknown_slot(detector, table):
    rows = table.iloc[:20].copy()
    rows["quad"] = "never-seen"
    top = detector.explain(rows).idxmax(axis=1)
    assert (top == "quad").mean() >= 0.9
    assert np.isfinite(detector.decision_function(rows)).all()


def test_the_saved_run_applies_the_same_encoding(table, tmp_path):
    train, new = table.iloc[:300], table.iloc[300:340].copy()
    new.loc[new.index[0], "quad"] = "never-seen"
    det = AutoencoderAnomalyDetector(**{**FAST, "epochs": 5}, out_dir=str(tmp_path)).fit(train)
    run = aekit.Run.load(det.run_dir_)  # config.json + model.safetensors, nothing pickled
    assert run.info["model"]["categories"][1] == ["down", "up"]
    # the saved weights carry the term scales fitted after training; a run's score is the
    # reconstruction part of the detector's (the code distance needs the training codes)
    np.testing.assert_allclose(run.model.term_scale, det.model_.term_scale)
    assert not np.allclose(run.model.term_scale.numpy(), 1.0)
    top = aekit.top_contributions(run, new, k=len(table.columns))
    sums = np.array([sum(v for _, v in row) for row in top])
    rec = det._score_parts(new)[:, 0]
    np.testing.assert_allclose(sums, rec, rtol=1e-4)
    assert {c for c, _ in top[0]} == set(table.columns)
    assert [v for _, v in top[0]] == sorted((v for _, v in top[0]), reverse=True)


def test_all_missing_column_is_refused_in_one_line(table):
    bad = table.iloc[:50].copy()
    bad["e"] = None
    with pytest.raises(aekit.DataError, match="column 'e' has no values.*drop the column"):
        AutoencoderAnomalyDetector(**FAST).fit(bad)


def test_a_table_without_training_columns_is_refused_naming_them():
    rows = [[str(i), str(2 * i), f"k{i % 3}"] for i in range(6)]
    spec = TableSpec.fit(table_from_rows(["n", "m", "t"], rows))
    with pytest.raises(aekit.DataError, match="no columns n, t, which the model was trained"):
        spec.encode(table_from_rows(["m"], [[r[1]] for r in rows]))
    with pytest.raises(aekit.DataError, match="no column 'n', which the model was trained on"):
        spec.encode(table_from_rows(["m", "t"], [r[1:] for r in rows]))


def test_text_in_a_numeric_column_is_refused_text_columns_are_categories():
    names = ["n", "t"]
    rows = [[str(i), f"k{i % 3}"] for i in range(20)] + [["oops", "k0"]]
    with pytest.raises(aekit.DataError, match="column 'n' holds numbers but row 21 is 'oops'"):
        TableSpec.fit(table_from_rows(names, rows))
    spec = TableSpec.fit(table_from_rows(names, rows[:20] + [["", "k0"]]))
    assert spec.numeric == 1 and spec.categories == [["k0", "k1", "k2"]]
    mostly_text = [[str(i), f"k{i}"] for i in range(5)] + [["5", "7"]]
    spec = TableSpec.fit(table_from_rows(names, mostly_text))
    assert spec.numeric == 1 and "7" in spec.categories[0]


def test_a_table_of_categories_only_trains_scores_and_explains(tmp_path):
    from aekit.cli.main import main

    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], 200)
    size = np.where(colour == "red", "S", rng.choice(["M", "L"], 200))  # tied to the colour
    df = pd.DataFrame({"colour": colour, "size": size})
    det = AutoencoderAnomalyDetector(**{**FAST, "epochs": 5, "latent_dim": 2}).fit(df)
    odd = pd.DataFrame({"colour": ["red", "red"], "size": ["S", "L"]})
    scores = det.decision_function(odd)
    assert np.isfinite(scores).all() and scores[1] > scores[0]  # red is always S
    assert list(det.explain(odd).columns) == ["colour", "size"]
    df.to_csv(tmp_path / "cat.csv", index=False)
    args = ["train", "--data", str(tmp_path / "cat.csv"), "--epochs", "1", "--no-progress"]
    assert main([*args, "--out", str(tmp_path), "--name", "c"]) == 0
    out = tmp_path / "s.csv"
    args = ["score", str(tmp_path / "c"), "--data", str(tmp_path / "cat.csv"), "--split", "all"]
    assert main([*args, "--out", str(out)]) == 0
    assert np.isfinite(pd.read_csv(out)["score"]).all()


def test_a_frame_of_one_column_read_with_the_wrong_separator_says_so(tmp_path):
    (tmp_path / "semi.csv").write_text("a;b;c\n" + "1;x;2.5\n" * 20)
    df = pd.read_csv(tmp_path / "semi.csv")  # one text column, 'a;b;c'
    with pytest.raises(aekit.DataError, match=r"seems separated by ';'.*sep=';'"):
        AutoencoderAnomalyDetector(**FAST).fit(df)
    assert TableSpec.fit(table_from_rows(["a;b"], [["1"], ["2"], [""]])).numeric == 1
    assert TableSpec.fit(table_from_rows(["colour"], [["red"], ["blue"]])).categories


def test_missing_categories_are_their_own_category():
    rows = [["1", "a"], ["2", ""], ["3", "a"], ["4", "NaN"]]
    spec = TableSpec.fit(table_from_rows(["n", "t"], rows))
    assert spec.categories == [[MISSING, "a"]]


def test_reducer_takes_a_dataframe(table):
    r = AutoencoderReducer(**{**FAST, "epochs": 2, "latent_dim": 2}).fit(table)
    codes = r.transform(table.iloc[:10])
    assert codes.shape == (10, 2)
    back = r.inverse_transform(codes)
    assert back.shape == (10, table.shape[1])
    assert set(back[:, 4]) <= {"low", "mid", "high", "<unknown>"}


def test_cli_trains_and_scores_a_mixed_csv_in_input_order(table, tmp_path):
    from aekit.cli.main import main

    t = table.iloc[:300].copy()
    t.loc[5, "size"] = "unheard-of"  # a category the run never saw
    t.iloc[:250].to_csv(tmp_path / "train.csv", index=False)
    csv = tmp_path / "mixed.csv"
    t.to_csv(csv, index=False)
    common = ["--no-progress", "--set", "train.recon_every=0"]
    args = ["train", "--data", str(tmp_path / "train.csv"), "--epochs", "20"]
    assert main([*args, "--out", str(tmp_path), "--name", "r", *common]) == 0
    run_dir, out = tmp_path / "r", tmp_path / "s.csv"
    args = ["score", str(run_dir), "--data", str(csv), "--split", "all", "--out", str(out)]
    assert main(args) == 0
    scores = pd.read_csv(out)
    assert scores["index"].tolist() == list(range(300))
    run = aekit.Run.load(run_dir)
    assert run.info["model"]["name"] == "tabular"
    assert not np.allclose(run.model.term_scale.numpy(), 1.0)  # fitted when training ended
    x = run.data("all", str(csv)).x
    want = run.model.row_scores(x).numpy()
    np.testing.assert_allclose(scores["score"].to_numpy(), want, rtol=1e-5)
    top = aekit.top_contributions(run, run.data("all", str(csv)), k=2)
    assert top[5][0][0] == "size" and len(top) == 300


def test_top_contributions_of_an_image_run_sum_to_its_score():
    from _tiny_runs import tiny_run

    from aekit.cli.cmd_score import per_sample_error

    run = aekit.Run.load(tiny_run("denoise"))  # [-1, 1] pixels: contributions in [0, 1] units
    data = run.data("val")
    data = data.subset(np.arange(10))
    top = aekit.top_contributions(run, data, k=64)
    want = per_sample_error(run, run.unit(data)).numpy()
    np.testing.assert_allclose([sum(v for _, v in row) for row in top], want, rtol=1e-4)
    with pytest.raises(aekit.DataError, match="pass run.data"):
        aekit.top_contributions(run, pd.DataFrame(np.zeros((2, 64))))


def test_an_object_array_of_numbers_is_numbers_and_one_with_text_is_a_table():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        AutoencoderAnomalyDetector().decision_function(np.zeros((3, 2)))
    x = np.random.default_rng(0).uniform(size=(40, 3))
    numbers = AutoencoderAnomalyDetector(hidden=[4], epochs=1).fit(x.astype(object))
    assert numbers.table_spec_ is None
    with pytest.raises(TypeError, match="argument must be .* string.* number"):
        bad = x.astype(object)
        bad[0, 0] = {"foo": "bar"}
        AutoencoderAnomalyDetector(hidden=[4], epochs=1).fit(bad)
    text = x.astype(object)
    text[:, 0] = np.where(x[:, 0] > 0.5, "a", "b")
    assert AutoencoderAnomalyDetector(hidden=[4], epochs=1).fit(text).table_spec_ is not None


def test_each_column_is_scored_in_units_of_its_usual_term(detector, table):
    model = detector._model64()
    x = detector._to_model(table).double()
    raw = model.column_losses(model.decoder(model.encode(x)), x).detach()
    scaled = model.scaled_terms(x)
    np.testing.assert_allclose(scaled, raw / model.term_scale, rtol=1e-12)
    np.testing.assert_allclose(model.row_scores(x), scaled.sum(1), rtol=1e-12)
    # calibrated on the rows it was fitted on (80% of the table in novelty mode): the 90th
    # percentile of each column's scaled term over the whole table is near 1, not raw's spread
    q = np.quantile(scaled.numpy(), 0.9, axis=0)
    assert np.all((q > 0.7) & (q < 1.4)), q
    q_raw = np.quantile(raw.numpy(), 0.9, axis=0)
    assert q_raw.max() / q_raw.min() > 5


def test_code_distance_flags_extreme_but_consistent_rows():
    """Rows far out along the direction every feature shares, inside the training data: the
    autoencoder rebuilds them (reconstruction alone hardly separates them) but their codes
    lie far from the others, so the combined score ranks them above the inliers."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    z = np.r_[rng.normal(size=400), [3.5, 4.0, -3.5, -4.0, 4.5, -4.5]]
    w = np.array([1, 2, -1, 0.5, 1.5, -2])
    X = pd.DataFrame(z[:, None] * w + 0.3 * rng.normal(size=(len(z), 6)), columns=list("uvwxyz"))
    y = np.r_[np.zeros(400), np.ones(6)]
    det = AutoencoderAnomalyDetector(**FAST).fit(X)
    rec, code = det._score_parts(X).T
    assert roc_auc_score(y, rec) < 0.8
    assert roc_auc_score(y, code) > 0.95
    assert roc_auc_score(y, det.decision_scores_) > 0.95
    np.testing.assert_allclose(det.explain(X).sum(axis=1), det.decision_scores_, rtol=1e-9)


def test_weights_saved_before_term_scales_load_with_scale_one(detector):
    import copy

    model = copy.deepcopy(detector.model_)
    state = model.state_dict()
    del state["term_scale"]
    model.load_state_dict(state)
    assert model.term_scale.tolist() == [1.0] * len(model.column_names)


def test_an_infinite_number_in_a_float_column_is_named_at_fit_and_at_scoring():
    """A float column skipped the check: fit ended in "the loss became NaN ... --lr" and
    scoring in NearestNeighbors' "Input X contains NaN"."""
    import pandas as pd

    from aekit.errors import DataError
    from aekit.sklearn import AutoencoderAnomalyDetector

    df = pd.DataFrame(
        {"a": np.linspace(0, 1, 40), "b": np.linspace(1, 0, 40), "c": list("xy") * 20}
    )
    bad = df.assign(a=[0.5, np.inf, *df.a[2:]])
    with pytest.raises(DataError, match=r"column 'a' holds an infinite value \(row 2\)"):
        AutoencoderAnomalyDetector(hidden=[4], epochs=1).fit(bad)
    det = AutoencoderAnomalyDetector(hidden=[4], epochs=1).fit(df)
    with pytest.raises(DataError, match="infinite"):
        det.decision_function(bad)


def test_a_headerless_table_is_told_to_add_the_header_line():
    """A CSV's first row is its header unless all numbers: a headerless mixed table is named
    by its first row of data, and the error says what is wrong with it."""
    rows = [[str(i), str(2 * i), f"k{i % 3}"] for i in range(6)]
    spec = TableSpec.fit(table_from_rows(["n", "m", "t"], rows))
    headerless = table_from_rows(rows[0], rows[1:])  # the first data row read as the names
    with pytest.raises(aekit.DataError, match="look like a row of data: give the file the train"):
        spec.encode(headerless)
    one_missing = table_from_rows(["0", "m", "t"], rows[1:])
    with pytest.raises(aekit.DataError, match="no column 'n'.*look like a row of data"):
        spec.encode(one_missing)
