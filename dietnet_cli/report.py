"""The HTML page of an evaluation: one self-contained file a person can read.

The page is built from an evaluation's metrics dictionary (what
``metrics.json`` holds) and its PNG figures, which are embedded as base64
data URIs, so the file can be mailed or archived alone and loads nothing
from elsewhere. Every string that comes from data (labels, sample IDs,
paths, configuration values) is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

MAX_LISTED_SAMPLES = 20

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2328; background: #fafafa; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid #d0d7de; }
p.sub { color: #57606a; margin: 0 0 18px; overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: white; border: 1px solid #d0d7de; border-radius: 8px;
  padding: 12px 16px; min-width: 150px; }
.card .value { font-size: 26px; font-weight: 600; }
.card .name { color: #57606a; font-size: 13px; }
table { border-collapse: collapse; background: white; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: left; }
th { background: #f0f3f6; }
tbody th { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 16px;
  align-items: start; }
figure { background: white; border: 1px solid #d0d7de; border-radius: 8px;
  margin: 0 0 16px; padding: 10px; }
figure img { display: block; width: 100%; height: auto; }
figure.wide img { width: auto; max-width: 100%; margin: 0 auto; }
figcaption { color: #57606a; font-size: 13px; margin-top: 6px; }
.note { color: #57606a; font-size: 13px; }
.warn { color: #9a3412; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
  font-size: 12px; overflow-wrap: anywhere; }
details { margin-top: 8px; }
pre { background: white; border: 1px solid #d0d7de; padding: 8px;
  font-size: 12px; overflow-x: auto; }
"""

_CAPTIONS = {
    "confusion": (
        "Confusion matrix",
        "Rows are true labels, columns predicted classes, grouped by "
        "super-population. Shading is the share of each true label's samples; "
        "numbers are counts.",
    ),
    "reliability": (
        "Calibration",
        "Accuracy against the top-class probability. Bars on the dashed "
        "diagonal mean the probabilities can be taken at face value.",
    ),
    "per_class_f1": ("F1 per label", "Coloured by group; n is the label's support."),
    "threshold": (
        "Probability threshold",
        "Accuracy of the samples whose top-class probability reaches the "
        "threshold, and the share of samples that do.",
    ),
    "variants_used": (
        "Variants used",
        "Accuracy by the number of model variants a sample had a call at.",
    ),
}


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _share(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _image(path: Path) -> str:
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{encoded}"


def _table(header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    """An HTML table; cells are already escaped."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cards(metrics: dict) -> str:
    low = metrics["low_confidence"]
    cards = [
        (_share(metrics["accuracy"]), "accuracy"),
        (_share(metrics["balanced_accuracy"]), "balanced accuracy"),
        (_ratio(metrics["macro_f1"]), "macro F1"),
        (_share(metrics.get("group_accuracy")), "group accuracy"),
        (_ratio(metrics["expected_calibration_error"]), "calibration error (ECE)"),
        (_share(low["share"]), "flagged low_confidence"),
        (_share(low["accuracy_on_rest"]), "accuracy on the rest"),
        (f"{metrics['num_samples']:,}", "samples scored"),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{_text(value)}</div>'
            f'<div class="name">{_text(name)}</div></div>'
            for value, name in cards
        )
        + "</div>"
    )


def _baselines(metrics: dict) -> str:
    baselines = metrics.get("baselines")
    if not baselines:
        return ""
    rows = [
        [
            "<b>dietnet model</b>",
            _share(metrics["accuracy"]),
            _share(metrics["balanced_accuracy"]),
            _ratio(metrics["macro_f1"]),
            _share(metrics.get("group_accuracy")),
            "",
        ]
    ]
    for name, row in baselines.items():
        chosen = ", ".join(
            f"{_text(key)} = {value:g}"
            for key, value in row.get("hyperparameters", {}).items()
        )
        if row.get("validation_accuracy") is not None:
            chosen += (
                f"<br><span class='note'>validation accuracy "
                f"{_share(row['validation_accuracy'])} on "
                f"{row['num_validation']:,} samples</span>"
            )
        rows.append(
            [
                f"{_text(name)}<br><span class='note'>"
                f"{_text(row.get('description', ''))}</span>",
                _share(row["accuracy"]),
                _share(row["balanced_accuracy"]),
                _ratio(row["macro_f1"]),
                _share(row.get("group_accuracy")),
                chosen,
            ]
        )
    trained_on = next(iter(baselines.values())).get("trained_on")
    where = f" Samples: {_text(trained_on)}." if trained_on else ""
    return (
        "<h2>Against simple baselines</h2>"
        + _table(
            [
                "method",
                "accuracy",
                "balanced accuracy",
                "macro F1",
                "group accuracy",
                "chosen on validation",
            ],
            rows,
            {1, 2, 3, 4},
        )
        + "<p class='note'>The baselines learn from the samples that trained the "
        "model, choose their hyperparameters on its validation samples, and are "
        "applied to the same aligned input; a baseline's group is that of its "
        f"predicted label.{where}</p>"
    )


def _samples(metrics: dict) -> str:
    samples = metrics["samples"]
    lines = [
        f"{samples['num_input']:,} samples in the input, "
        f"{samples['num_labelled']:,} labelled in the label file, "
        f"{samples['num_evaluated']:,} scored (in both).",
    ]
    for key, what, style in (
        (
            "input_not_in_labels",
            "input samples have no label and are not scored",
            "warn",
        ),
        ("labels_not_in_input", "labelled samples are not in the input", "note"),
    ):
        ids = samples[key]
        if ids:
            shown = ", ".join(_text(s) for s in ids[:MAX_LISTED_SAMPLES])
            more = (
                f" and {len(ids) - MAX_LISTED_SAMPLES:,} more"
                if len(ids) > MAX_LISTED_SAMPLES
                else ""
            )
            lines.append(
                f"<span class='{style}'>{len(ids):,} {what}</span>: "
                f"<span class='mono'>{shown}{more}</span>."
            )
    if samples.get("num_unlabelled"):
        lines.append(
            f"{samples['num_unlabelled']:,} rows of the label file have no label "
            "value and were left out."
        )
    unknown = metrics.get("unknown_labels") or {}
    if unknown:
        listed = ", ".join(f"{_text(k)} ({n:,})" for k, n in unknown.items())
        lines.append(
            f"<span class='warn'>{sum(unknown.values()):,} samples carry labels the "
            f"model does not know</span>: {listed}. They count as errors and have "
            "their own rows in the confusion matrix."
        )
    return "<h2>Samples</h2>" + "".join(f"<p>{line}</p>" for line in lines)


def _confused(metrics: dict) -> str:
    pairs = metrics.get("most_confused") or []
    if not pairs:
        return "<h2>Most confused pairs</h2><p>No sample was misclassified.</p>"
    rows = [
        [
            _text(pair["true"]),
            _text(pair["predicted"]),
            f"{pair['count']:,}",
            _share(pair["share"]),
        ]
        for pair in pairs
    ]
    return "<h2>Most confused pairs</h2>" + _table(
        ["true label", "predicted as", "samples", "share of the label"], rows, {2, 3}
    )


def _per_class(metrics: dict) -> str:
    rows = []
    for label, row in metrics["per_class"].items():
        name = _text(label)
        if not row["in_model"]:
            name += " <span class='warn'>(not in model)</span>"
        rows.append(
            [
                name,
                _text(row["group"] or ""),
                _ratio(row["precision"]),
                _ratio(row["recall"]),
                _ratio(row["f1"]),
                f"{row['support']:,}",
                f"{row['num_predicted']:,}",
            ]
        )
    return (
        "<details><summary>Per-label precision, recall and F1</summary>"
        + _table(
            ["label", "group", "precision", "recall", "F1", "support", "predicted"],
            rows,
            {2, 3, 4, 5, 6},
        )
        + "<p class='note'>n/a: undefined (no sample of the label, or none "
        "predicted as it).</p></details>"
    )


def _figure(name: str, path: Path, *, wide: bool = False) -> str:
    title, caption = _CAPTIONS.get(name, (name, ""))
    return (
        f'<figure{" class=wide" if wide else ""}><img src="{_image(path)}" '
        f'alt="{_text(title)}"><figcaption><b>{_text(title)}.</b> '
        f"{_text(caption)}</figcaption></figure>"
    )


def _small_figures(figures: dict[str, Path]) -> str:
    """The figures other than the confusion matrix, two to a row."""
    blocks = [_figure(n, p) for n, p in figures.items() if n != "confusion"]
    if not blocks:
        return ""
    return (
        '<h2>Calibration and per-label scores</h2><div class="grid">'
        + "".join(blocks)
        + "</div>"
    )


def _provenance(metrics: dict) -> str:
    model = metrics["model"]
    record = metrics.get("provenance", {})
    input_description = metrics.get("input", {})
    input_checksum = input_description.get("sha256") or ", ".join(
        str(f.get("sha256")) for f in input_description.get("files", [])
    )
    rows = [
        ["model file", _text(model["path"])],
        ["model checksum", _text(model["checksum"])],
        ["training dataset checksum", _text(model["dataset_checksum"])],
        ["trained with dietnet", _text(model.get("dietnet_version") or "unknown")],
        ["genome build", _text(model.get("build") or "not recorded")],
        [
            "classes x variants",
            f"{model['num_classes']:,} x {model['num_variants']:,}",
        ],
        ["calibration temperature", f"{model['temperature']:.3f}"],
        ["input", _text(input_description.get("path", ""))],
        ["input sha256", _text(input_checksum or "not computed (standard input)")],
        ["labels", _text(metrics.get("labels", {}).get("path", ""))],
        ["evaluated with dietnet", _text(record.get("dietnet_version", ""))],
        ["command", _text(" ".join(record.get("command_line", [])))],
        ["created", _text(record.get("created", ""))],
    ]
    body = "".join(
        f"<tr><th>{key}</th><td class='mono'>{value}</td></tr>" for key, value in rows
    )
    configuration = json.dumps(
        {
            "model_config": model.get("model_config"),
            "train_config": model.get("train_config"),
            "training_metrics": model.get("training_metrics"),
            "training_provenance": model.get("provenance"),
        },
        indent=2,
        sort_keys=True,
    )
    return (
        "<h2>Provenance</h2>"
        f"<table><tbody>{body}</tbody></table>"
        "<details><summary>Model configuration and training record</summary>"
        f"<pre>{_text(configuration)}</pre></details>"
    )


def render(metrics: dict, *, figures: dict[str, Path]) -> str:
    """The report page for an evaluation.

    Parameters
    ----------
    metrics
        The evaluation's metrics, as written to ``metrics.json``.
    figures
        Figure name (``confusion``, ``reliability``, ``per_class_f1``,
        ``threshold``, ``variants_used``) -> PNG file to embed.
    """
    model = metrics["model"]
    title = f"dietnet evaluation: {Path(str(model['path'])).name}"
    subtitle = (
        f"{metrics['num_samples']:,} samples of "
        f"{metrics.get('input', {}).get('path', '')} against "
        f"{metrics.get('labels', {}).get('path', '')}; "
        f"{metrics['variant_matching']['found']:,} of "
        f"{metrics['variant_matching']['num_model_variants']:,} model variants found."
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_text(title)}</title>",
        f"<style>{_STYLE}</style></head><body><main>",
        f"<h1>{_text(title)}</h1>",
        f'<p class="sub">{_text(subtitle)}</p>',
        _cards(metrics),
        "<p class='note'>Group accuracy compares super-populations (the group "
        "with the largest summed probability). Calibration error: "
        f"{_text(metrics['calibration']['binning'])}.</p>",
        _baselines(metrics),
        _samples(metrics),
        "<h2>Confusion matrix</h2>",
        _figure("confusion", figures["confusion"], wide=True)
        if "confusion" in figures
        else "",
        _confused(metrics),
        _small_figures(figures),
        _per_class(metrics),
        _provenance(metrics),
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"
