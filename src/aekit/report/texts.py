"""Every text of report.html a learner reads: figure titles and how to read each figure, readable
metric names, and the sentences written from a run's config and results. One home, so the
words can be reviewed (and translated) in one place."""

from __future__ import annotations

import re
from typing import Any

from aekit.evaluation.evaluate import metrics_table

#: figure key -> (title, how to read it). The key is a plot file's stem, or stem:variant for
#: a run where the figure means something else (a denoiser, a VAE, 2-D points, table rows).
FIGURES: dict[str, tuple[str, str]] = {
    "loss": (
        "Training curves",
        "The loss the optimiser minimised, per epoch, on the training data (solid) and on held-out "
        "validation data (dashed). Both should fall and level off; a validation curve that turns "
        "upward while the training curve keeps falling means the model has started to memorise "
        "its training set (overfitting).",
    ),
    "loss:variational": (
        "Training curves: the loss and its two terms",
        "A VAE minimises the negative ELBO = reconstruction term + KL term. Each term has its own "
        "panel and axis because their scales differ: the reconstruction term falls as images are "
        "rebuilt better, while the KL term (how far the codes stray from the prior) often rises "
        "early on, as the codes start to carry information, and then settles.",
    ),
    "recon": (
        "Reconstructions of validation images",
        "Top row: images the model never trained on; bottom row: what it rebuilt from each "
        "image's code. The closer the rows, the less the code lost. Blurry outputs are typical of "
        "a small code trained with squared error: it predicts the average of what could be there.",
    ),
    "recon:denoise": (
        "Denoising: noisy input, output, clean original",
        "Top: a validation image with noise added, as the model saw it; middle: the model's "
        "output; bottom: the clean original it was trained to recover. A good denoiser's middle "
        "row looks like the bottom row, not the top one.",
    ),
    "recon:points": (
        "The points, their reconstructions and the learned line",
        "Dots: data points; crosses: their reconstructions, joined to them by grey lines. With a "
        "one-number code the model can only output points on its decoder's line (solid), so it "
        "sends each point to a place on that line. Trained to convergence, a linear autoencoder's "
        "line is the first principal component (dashed), the line that keeps the most variance.",
    ),
    "recon:rows": (
        "Rows and their reconstructions",
        "Six validation rows of the table, each a solid line over its columns, and the model's "
        "reconstruction of each as a dashed line of the same colour. The closer each dashed line "
        "follows its solid one, the less the code lost; a column where they always part is one "
        "the code does not keep.",
    ),
    "animation": (
        "Reconstructions during training",
        "The same images reconstructed after each epoch, looped: outputs usually start as a blur "
        "of the average image and sharpen as training goes on.",
    ),
    "recon_epoch": (
        "Reconstructions after the last epoch",
        "The training-preview images as the model rebuilt them at the end: the last frame of the "
        "animation above.",
    ),
    "latent": (
        "The latent space",
        "Every validation sample placed at its code (codes longer than two numbers are projected "
        "onto their two main directions by PCA), with colour and marker by label. Labels were not "
        "used in training: a good latent space still puts samples of one class together and "
        "different classes apart; overlapping classes are ones the model finds alike.",
    ),
    "latent:variational": (
        "The latent space",
        "Every validation sample placed at the mean of its code distribution, coloured and shaped "
        "by label. The KL term pulls codes towards a round cloud around 0 (the prior); classes "
        "should still form their own regions inside it.",
    ),
    "latent:unlabeled": (
        "The latent space",
        "Every validation sample placed at its code (codes longer than two numbers are projected "
        "onto their two main directions by PCA). These data have no labels, so look at the "
        "shape: separate clumps are groups the model tells apart, and points along a thin curve "
        "mean the codes use fewer dimensions than they have.",
    ),
    "latent_tsne": (
        "The latent space (t-SNE)",
        "t-SNE places codes that are close in the full code space close on the page. Trust its "
        "clusters, not the distances between them or their sizes.",
    ),
    "manifold": (
        "The decoded manifold",
        "A regular grid of codes over two code units (the others held at their mean), each "
        "decoded into an image. A good manifold changes smoothly from cell to cell and every cell "
        "looks like a plausible sample; odd cells are regions of code space that no training "
        "sample was mapped to.",
    ),
    "traversal": (
        "Traversals: one code unit at a time",
        "Each row starts from the average code and moves one code unit from -2.5 to +2.5 "
        "standard deviations, the others fixed. A row that changes one feature (slant, "
        "thickness) is an interpretable unit; a row that does not change is a unit the decoder "
        "ignores.",
    ),
    "interpolation": (
        "Interpolating between two codes",
        "Each row encodes two validation images (the ends) and decodes points on the straight "
        "line between their codes. Plausible in-between images mean the code space is "
        "continuous; sudden jumps or ghostly mixtures mean the line crosses empty regions.",
    ),
    "weights_encoder": (
        "What the first encoder layer looks for",
        "Each tile is one unit's incoming weights drawn as an image: grey is zero, white "
        "positive, black negative. Trained units look like strokes, blobs or edge detectors. "
        "Tiles that still look like noise barely trained; flat grey tiles are dead units that "
        "ignore the input. Many of either: the layer is larger than needed, or training stopped "
        "early.",
    ),
    "weights_decoder": (
        "What the last decoder layer paints",
        "Each tile is one unit's outgoing weights to the output pixels: the pattern the unit "
        "adds to the image when it is active (grey zero, white positive, black negative).",
    ),
    "samples": (
        "Samples: random codes, decoded",
        "Codes drawn from a Gaussian fitted to the training codes, then decoded. A plain "
        "autoencoder was never trained to make every code decode to something sensible, so many "
        "samples fall into gaps between the training codes and look blurry or like no class: "
        "that is what a variational autoencoder fixes.",
    ),
    "samples:variational": (
        "Samples from the prior",
        "Codes drawn from the VAE's prior (a standard normal), then decoded. The KL term trained "
        "the codes to fill that prior, so most random codes decode to plausible images, though "
        "they are usually blurrier than reconstructions.",
    ),
    "samples:points": (
        "Samples among the data",
        "Random codes decoded into points (triangles), over the data (dots). Samples should lie "
        "where the data lie; a model with a one-number code can only produce points on its line.",
    ),
    "samples:rows": (
        "Samples: random codes, decoded into rows",
        "Random codes decoded into rows of the table (thin lines), over the band where the middle "
        "90% of the validation rows lie in each column (grey). Good samples stay inside the band "
        "and have its shape; lines far outside it are codes the model never learned to decode.",
    ),
    "scores_hist": (
        "Anomaly scores and the threshold",
        "How many scored samples got each score (the mean squared error of their "
        "reconstruction; higher = less like the training data). Everything right of the dashed "
        "line is flagged. Normal data make one hump; anomalies form a tail or a second hump "
        "to the right. The x axis is logarithmic when the scores span orders of magnitude.",
    ),
    "scores_hist:table": (
        "Anomaly scores and the threshold",
        "How many scored rows got each score (built from the row's column terms, as the "
        "paragraph above says; higher = less like the training data). "
        "Everything right of the dashed line is flagged. Normal rows make one hump; anomalies "
        "form a tail or a second hump to the right.",
    ),
    "scores_hist:labeled": (
        "Anomaly scores and the threshold, by label",
        "How many normal (blue) and anomalous (red) samples got each score; everything right of "
        "the dashed line is flagged. The less the two humps overlap, the better the score tells "
        "them apart; red left of the line are missed anomalies, blue right of it false alarms.",
    ),
    "scores_roc": (
        "ROC curve: every threshold at once",
        "Each point is a threshold: across, the share of normal samples it flags (false "
        "alarms); up, the share of anomalies it flags. A curve hugging the top-left corner "
        "separates them well; the diagonal is guessing. The area under it (AUROC) is the chance "
        "that a random anomaly scores above a random normal sample; the dot is the threshold used.",
    ),
    "scores_normal": (
        "The most normal inputs",
        "The scored inputs the model rebuilt best (top: the input with its score; bottom: the "
        "reconstruction). They show what the model takes as typical; an odd one here means the "
        "model rebuilds it easily, so the score will not flag inputs like it.",
    ),
    "scores_anomalous": (
        "The most anomalous inputs",
        "The scored inputs the model rebuilt worst, highest score first (top: the input; "
        "bottom: the reconstruction; * marks flagged ones). Where the two rows differ is what "
        "the model did not expect. Ordinary inputs here usually mean noisy data or a weak model.",
    ),
    "decode": (
        "A chosen code, decoded",
        "The image the decoder makes from the code in its title (asked for with run.after or "
        "`aekit plot --kind decode:...`).",
    ),
}

#: metric key (eval.json's model_metrics, or metrics_table's label) -> readable name
METRIC_NAMES = {
    "recon_nats": "reconstruction term, -log p(x|z) (nats per image)",
    "kl_nats": "KL term, KL(q(z|x) || prior) (nats per image)",
    "neg_elbo_nats": "negative ELBO = reconstruction + KL (nats per image)",
    "nll_images": "images used for the NLL estimate",
    "code_mean_activation": "mean code activation",
    "code_near_zero_fraction": "share of code values near zero",
    "code_dead_unit_fraction": "share of code units never active (dead)",
    "jacobian_frobenius": "encoder sensitivity ||dz/dx|| (lower: more contractive)",
    "val_mse_end_to_end": "MSE per pixel",
    "val_mse_after_stacking": "MSE per pixel after stacking, before fine-tuning",
    "val_mse_after_finetune": "MSE per pixel after fine-tuning",
}

#: readable metric name -> one sentence on what it measures (the glossary under the table)
GLOSSARY = {
    "MSE per pixel": "mean of (output - input)^2 over every pixel or value, in [0, 1] units.",
    "squared error per image": "the same, summed over one image's pixels (or one row's values).",
    "BCE per image (nats)": "binary cross-entropy summed over one image's pixels.",
    "PSNR (dB)": "peak signal-to-noise ratio, 10 log10(1 / MSE); higher is better.",
    "SSIM": "structural similarity, 1 for a perfect copy; higher is better.",
    "negative ELBO": "the VAE's training loss: an upper bound on -log p(x), the number of nats "
    "needed to describe an image; it is the reconstruction term plus the KL term.",
    "negative log-likelihood": "-log p(x) estimated with K importance samples per image "
    "(IWAE bound): tighter than the ELBO, so a little lower; computed on the first "
    "'images used for the NLL estimate' validation images.",
}


def figure_key(stem: str, variant: str | None = None) -> str:
    """The FIGURES key of a plot file stem ("recon_epoch_003" -> "recon_epoch")."""
    base = re.sub(r"_epoch_\d+$", "_epoch", stem)
    base = "decode" if base.startswith("decode_") else base
    if variant and f"{base}:{variant}" in FIGURES:
        return f"{base}:{variant}"
    return base


def figure_text(stem: str, variants: list[str]) -> tuple[str, str]:
    """(title, how to read it) of a plot file, for the first of ``variants`` that has a text."""
    for v in [*variants, None]:
        key = figure_key(stem, v)
        if key in FIGURES and (v is None or ":" in key):
            return FIGURES[key]
    return stem.replace("_", " ").capitalize(), ""


def metric_name(key: str) -> str:
    """A readable name for a metric key ("neg_elbo_nats" -> "negative ELBO = ...")."""
    if key in METRIC_NAMES:
        return METRIC_NAMES[key]
    m = re.fullmatch(r"nll_is(\d+)_nats", key)
    if m:
        return f"negative log-likelihood, {m.group(1)} importance samples (nats per image)"
    return key.replace("_", " ")


def readable_metrics(evaluation: dict[str, Any]) -> list[list[str]]:
    """metrics_table of an evaluation (eval.json) with the model's own numbers (a VAE's ELBO
    terms...) named for people: the table of report.html, the model card and `aekit eval`."""
    own = set(evaluation.get("model_metrics", {}))
    return [[metric_name(r[0]) if r[0] in own else r[0], *r[1:]] for r in metrics_table(evaluation)]


def _n(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:.3g}"


def model_paragraph(info: dict[str, Any], description: str, variational: bool) -> str:
    """ "What is this model": a few plain sentences from the run's config.json (HTML-safe text
    is the caller's job)."""
    m, d = info["model"], info["data"]
    shape = info["input_shape"]
    size = 1
    for s in shape:
        size *= s
    channels = "" if len(shape) != 3 or shape[0] == 1 else f" with {shape[0]} channels"
    what = (
        f"{shape[1]}×{shape[2]} image{channels}"
        if len(shape) == 3
        else f"row of {shape[0]} numbers"
    )
    L = m.get("latent_dim", 0)
    layers = m.get("hidden") or m.get("channels")
    kind = "channels" if "channels" in m else "units"
    count = f" ({_n(size)} numbers)" if len(shape) == 3 else ""
    via = f" through layers of {', '.join(map(str, layers))} {kind}" if layers else ""
    text = [
        "An autoencoder learns to squeeze each input into a short code and to rebuild the input "
        "from that code alone; what the code keeps is what the model found most worth keeping.",
        f"This one is `{m['name']}`: {description}. Its encoder takes each {what}{count}{via} "
        f"down to a code of {L} number{'s' if L != 1 else ''}, and its "
        f"decoder maps the code back. It has {_n(info.get('parameters', 0))} parameters and was "
        f"trained on {_n(d['n_train'])} samples of `{d['name']}`.",
    ]
    if L < size:
        text.append(f"The code is {size / max(L, 1):.3g}× smaller than the input (undercomplete).")
    else:
        text.append(
            "The code is at least as large as the input (overcomplete): only a penalty or noise "
            "keeps the model from learning to copy its input."
        )
    text += _family_sentences(info, variational)
    return " ".join(text)


def _family_sentences(info: dict[str, Any], variational: bool) -> list[str]:
    """The sentences for the settings that change what the model learns."""
    m, cfg = info["model"], info.get("config", {})
    data = cfg.get("data", {})
    out = []
    if variational:
        out.append(
            "It is variational: the encoder outputs a Gaussian over codes, and training minimises "
            f"the negative ELBO = reconstruction term (-log p(x|z), {m.get('likelihood')} "
            f"likelihood) + {m.get('beta', 1):g} × KL term (how far the code distribution is "
            "from the standard normal prior), so random codes from the prior decode to samples."
        )
    if "penalty" in m:
        how = (
            f"KL to a target mean activation rho = {m.get('rho')}, weight {m.get('beta')}"
            if m["penalty"] == "kl"
            else f"L1 on the code, weight {m.get('weight')}"
        )
        out.append(f"A sparsity penalty ({how}) keeps most code units near zero for each input.")
    if "jacobian" in m:
        out.append(
            f"A contractive penalty (weight {m.get('weight')} × ||dz/dx||²) makes the code "
            "insensitive to small changes of the input."
        )
    if data.get("noise", "none") != "none" and data.get("noise_level", 0) > 0:
        out.append(
            f"Inputs were corrupted with {data['noise'].replace('_', ' ')} noise (level "
            f"{data['noise_level']:g}) and the model learned to output the clean original: a "
            "denoising autoencoder."
        )
    angle = info.get("result", {}).get("pca_max_principal_angle_deg")
    if angle is not None:
        out.append(
            "Its decoder is linear: trained on squared error, the best it can do is PCA's "
            f"subspace. At the end its subspace was {angle:.3g}° from PCA's (0° is PCA's)."
        )
    return out


def headline(ev: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """The main numbers of an evaluation (eval.json) in words, one sentence each."""
    per = "image" if len(info["input_shape"]) == 3 else "row"
    out = []
    ratio, pca = ev.get("ratio_to_pca"), ev.get("pca")
    if ratio is not None and pca:
        k = pca["k"]
        verdict = (
            "better than" if ratio < 0.995 else "worse than" if ratio > 1.005 else "as good as"
        )
        out.append(
            f"Reconstruction error is {ratio:.2f}× that of PCA with the same {k} "
            f"number{'s' if k != 1 else ''} per {per} (below 1 is better than PCA): "
            f"the model is {verdict} PCA on these {ev.get('n_images')} {ev.get('split')} samples."
        )
    den = ev.get("denoising")
    if den and "psnr" in den["denoised"]:
        out.append(
            f"Denoising takes the PSNR from {den['noisy_input']['psnr']:.1f} dB (the noisy "
            f"input) to {den['denoised']['psnr']:.1f} dB (the output); higher is better."
        )
    own = ev.get("model_metrics", {})
    if "neg_elbo_nats" in own:
        out.append(
            f"The negative ELBO is {own['neg_elbo_nats']:.4g} nats per image = "
            f"{own.get('recon_nats', float('nan')):.4g} (reconstruction term) + "
            f"{own.get('kl_nats', float('nan')):.4g} (KL term)."
        )
    nll = [k for k in own if re.fullmatch(r"nll_is\d+_nats", k)]
    if nll:
        k = nll[0]
        out.append(
            f"The importance-sampled negative log-likelihood is {own[k]:.4g} nats per image "
            f"({k[6:-5]} samples per image, on {own.get('nll_images')} images): a tighter bound "
            "than the ELBO, so at most the negative ELBO."
        )
    return out


#: the training log's columns (metrics.jsonl's train_* / val_* keys): the split, then the term
LOG_SPLITS = {"train": "training", "val": "validation"}
LOG_TERMS = {
    "loss": "loss",  # what the optimiser minimises: the sum of the terms below
    "recon": "reconstruction",
    "kl": "KL",
    "sparsity": "sparsity penalty",
    "contractive": "contraction penalty",
}


def log_header(key: str) -> str:
    """A training-log column for people: "train_recon" -> "reconstruction (training)"."""
    split, _, term = key.partition("_")
    if split not in LOG_SPLITS:
        return key.replace("_", " ")
    return f"{LOG_TERMS.get(term, term.replace('_', ' '))} ({LOG_SPLITS[split]})"


#: what each threshold rule means, in words (``aekit.anomaly``)
RULE_WORDS = {
    "fpr": "calibrated on {inliers} (normal samples the model did not train on) so that about "
    "{rate:.0%} of normal samples are flagged",
    "contamination": "set so that the highest {rate:.0%} of {scored} are flagged",
    "auto": "the median of the log-scores plus 3.5 robust standard deviations, which assumes "
    "normal scores are roughly log-normal and anomalies a minority",
}

#: what the score is, unless the scores' meta.json says otherwise
SCORE_WORDS = "their mean squared reconstruction error (in [0, 1] units)"

#: the table of rows of a table run, by which end of the scores they come from
ROW_TABLES = {
    "anomalous": "The most anomalous rows: for each, the columns with the largest share of its "
    "score (for numeric tables also the row's value and, in brackets, the value the model "
    "rebuilt). The first column named is what made the row stand out.",
    "normal": "The most normal rows, rebuilt best: what the model takes as typical.",
}


def score_sentences(meta: dict[str, Any], scores, flags, threshold: float, truth=None) -> list[str]:
    """The "Anomaly scores" section's lead: what was scored, the threshold and what it
    flagged, and (with labels) the AUROC and the rates at the threshold, in words."""
    import numpy as np

    n, k = len(scores), int(np.sum(flags))
    kind, _, rate = str(meta.get("rule", "")).partition(":")
    inliers = meta.get("inliers", "the run's held-out validation data")
    scored = meta.get("threshold_scores", "these scores")  # what the threshold was set on
    rate = float(rate) if rate else 0.0
    how = RULE_WORDS.get(kind, "{rate}").format(rate=rate, inliers=inliers, scored=scored)
    split = f" ({meta['split']} split)" if meta.get("split") else ""
    out = [
        f"{n:,} sample{'s' * (n != 1)} of {meta.get('data')}{split} "
        f"{'were' if n != 1 else 'was'} scored by {meta.get('score', SCORE_WORDS)} (higher = "
        f"less like the training data) with `{meta.get('command', 'aekit score')}`.",
        f"The threshold is {threshold:.4g} (rule {meta.get('rule')}: {how}); it flags {k:,} "
        f"of them ({k / max(n, 1):.1%}).",
    ]
    if truth is not None:
        from sklearn.metrics import roc_auc_score

        t = np.asarray(truth).astype(bool)
        f = np.asarray(flags).astype(bool)
        auc = roc_auc_score(t, scores)
        out.append(
            f"With the labels ({meta.get('labels')}: {int(t.sum()):,} anomalies, "
            f"{int((~t).sum()):,} normal), the AUROC is {auc:.3f}: a random anomaly scores "
            f"above a random normal sample {auc:.0%} of the time (0.5 is chance). At the "
            f"threshold, {f[t].mean():.0%} of the anomalies are flagged and {f[~t].mean():.1%} "
            "of the normal samples (false alarms)."
        )
    elif meta.get("labels_note"):
        out.append(str(meta["labels_note"]))
    return out
