"""The ``dietnet`` command line: thin wrappers over the pipeline stages.

Each command parses its options, sets up logging, calls one library function
with keyword arguments and says where the output went. Errors a user can fix
arrive as :class:`DietnetError` and become one ``Error:`` line on stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler

from dietnet_cli import __version__, allocator
from dietnet_cli.errors import DietnetError

app = typer.Typer(
    name="dietnet",
    help="Predict genetic ancestry from genotypes with Diet Networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
logger = logging.getLogger("dietnet_cli")

# Options shared by several commands, declared once.
Threads = Annotated[
    int,
    typer.Option("--threads", "-t", min=1, help="Worker processes or threads."),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Force = Annotated[
    bool, typer.Option("--force", "-f", help="Replace an existing output.")
]
ShowProgress = Annotated[
    bool,
    typer.Option("--progress/--no-progress", help="Show progress bars on stderr."),
]
Verbose = Annotated[
    int,
    typer.Option("--verbose", "-v", count=True, help="More log detail (-vv: debug)."),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")
]
LabelColumn = Annotated[
    str | None,
    typer.Option(help="Label column of LABELS (default: pop).", show_default=False),
]
GroupColumn = Annotated[
    str | None,
    typer.Option(
        help="Group column of LABELS (default: super_pop when present).",
        show_default=False,
    ),
]
Build = Annotated[
    str | None,
    typer.Option(
        "--build",
        help="Genome build (GRCh37 or GRCh38) when the input header does not say.",
        show_default=False,
    ),
]


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    handler = RichHandler(
        console=Console(stderr=True),
        show_time=verbose > 0,
        show_path=verbose > 1,
        markup=False,
        rich_tracebacks=False,
    )
    root = logging.getLogger("dietnet_cli")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    if verbose < 2:
        logging.getLogger("dietnet_cli.vcf").setLevel(max(level, logging.INFO))


def _say(message: str) -> None:
    """Where an output went: a log line on stderr, never stdout."""
    logger.info(message)


@app.command()
def prepare(
    input_path: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="VCF/BCF file, '-' for VCF on stdin, or PLINK .bed (or prefix).",
        ),
    ],
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            "-l",
            exists=True,
            dir_okay=False,
            readable=True,
            help="TSV of sample labels (the 1000 Genomes panel works as is).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset directory.")],
    label_column: LabelColumn = None,
    group_column: GroupColumn = None,
    maf: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.5, help="Drop variants with a lower minor allele frequency."
        ),
    ] = 0.0,
    max_missing: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Drop variants with more missing calls."),
    ] = 0.1,
    regions: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated regions, e.g. '1,2:1-5000000' (needs an index)."
        ),
    ] = None,
    variants: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Keep only these variants: chrom:pos[:ref:alt] or IDs, or a TSV "
            "with chrom and pos columns.",
        ),
    ] = None,
    all_contigs: Annotated[
        bool, typer.Option(help="Keep chromosomes other than 1-22.")
    ] = False,
    build: Build = None,
    threads: Threads = 1,
    force: Force = False,
    show_progress: ShowProgress = True,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Read genotypes and labels into a dataset directory.

    Keeps the biallelic SNPs on chromosomes 1-22 of the samples present in
    both INPUT and LABELS, and caches them as an int8 matrix of ALT allele
    counts with sample and variant tables and a manifest.
    """
    _setup_logging(verbose, quiet)
    from dietnet_cli.prepare import prepare as run_prepare
    from dietnet_cli.variantfilter import Filters

    filters = Filters(
        maf=maf,
        max_missing=max_missing,
        all_contigs=all_contigs,
        regions=tuple(r for r in (regions or "").split(",") if r),
        variants_file=str(variants) if variants else None,
    )
    result = run_prepare(
        input_path,
        labels_path=labels,
        out=out,
        label_column=label_column,
        group_column=group_column,
        filters=filters,
        build=build,
        threads=threads,
        force=force,
        show_progress=show_progress,
    )
    _say(
        f"Wrote dataset {out}: {result.num_samples:,} samples x "
        f"{result.num_variants:,} variants."
    )


DatasetArgument = Annotated[
    Path,
    typer.Argument(
        metavar="DATASET",
        exists=True,
        file_okay=False,
        help="Dataset directory written by 'dietnet prepare'.",
    ),
]
ValFraction = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=0.5,
        help="Class-stratified share of the samples held out for validation.",
        rich_help_panel="Validation",
    ),
]
Folds = Annotated[
    int | None,
    typer.Option(
        min=2,
        help="Validate on one of K stratified folds instead (with --fold).",
        rich_help_panel="Validation",
    ),
]
Fold = Annotated[
    int | None,
    typer.Option(
        min=1, help="Which fold validates (1..K).", rich_help_panel="Validation"
    ),
]


def _split(val_fraction: float, folds: int | None, fold: int | None, seed: int):
    from dietnet_cli.splits import SplitConfig

    if (folds is None) != (fold is None):
        raise DietnetError("--folds and --fold go together; give both or neither.")
    return SplitConfig(val_fraction=val_fraction, folds=folds, fold=fold, seed=seed)


@app.command()
def embed(
    dataset: DatasetArgument,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Embedding .npy file (default: DATASET/embedding.npy)."
        ),
    ] = None,
    samples: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Count only these samples (one ID per line) instead of the "
            "training split.",
        ),
    ] = None,
    val_fraction: ValFraction = 0.1,
    folds: Folds = None,
    fold: Fold = None,
    seed: Seed = 0,
    show_progress: ShowProgress = True,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Compute the per-class genotype histogram of every variant.

    Counts genotypes 0, 1 and 2 per class among the training samples only
    (the split 'dietnet train' uses with the same options, or --samples),
    and caches them keyed by the dataset and the sample set.
    """
    _setup_logging(verbose, quiet)
    from dietnet_cli import embed as embed_stage
    from dietnet_cli.dataset import open_dataset

    opened = open_dataset(dataset)
    train_index = embed_stage.training_index(
        opened, samples_file=samples, split=_split(val_fraction, folds, fold, seed)
    )
    result = embed_stage.embed(
        opened, train_index=train_index, out=out, show_progress=show_progress
    )
    where = out or dataset / embed_stage.EMBEDDING
    _say(
        f"Embedding {where}: {result.class_counts.shape[0]:,} variants x "
        f"{result.class_counts.shape[1]} classes x 3 genotypes."
    )


class ModelChoice(str, Enum):
    dietnet = "dietnet"
    mlp = "mlp"


class ActivationChoice(str, Enum):
    relu = "relu"
    tanh = "tanh"


class InitChoice(str, Enum):
    normal = "normal"
    uniform = "uniform"


class OptimizerChoice(str, Enum):
    adam = "adam"
    rmsprop = "rmsprop"


def _given(**values: object) -> dict:
    """Options the user set; the others keep the configuration's defaults."""
    return {name: value for name, value in values.items() if value is not None}


ARCH = "Architecture"
OPT = "Optimisation"
# The defaults of ModelConfig and TrainConfig as --help shows them (the
# configurations import torch, which --help should not wait for); a test
# checks that they agree.
TRAIN_DEFAULTS = {
    "model": "dietnet",
    "num_hidden": "100",
    "hidden_layers": "100,100",
    "aux_hidden": "100",
    "activation": "tanh",
    "init": "uniform",
    "init_scale": "1.0",
    "dropout": "0.0",
    "batch_norm": "batch-norm",
    "gamma": "0.0",
    "optimizer": "adam",
    "learning_rate": "0.0001, or 0.001 without the assignment-test path",
    "weight_decay": "0.0",
    "clip_norm": "0.0",
    "batch_size": "64",
    "epochs": "15",
    "patience": "5",
    "leave_batch_out": "leave-batch-out",
}


@app.command()
def train(
    dataset: DatasetArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write.")],
    model: Annotated[
        ModelChoice | None,
        typer.Option(
            help="dietnet, or the paper's plain mlp for comparison.",
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["model"],
        ),
    ] = None,
    num_hidden: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Width of the first layer W_e.",
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["num_hidden"],
        ),
    ] = None,
    hidden_layers: Annotated[
        str | None,
        typer.Option(
            help="Widths of further hidden layers, e.g. '100,100'.",
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["hidden_layers"],
        ),
    ] = None,
    aux_hidden: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Width of the auxiliary networks' hidden layer.",
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["aux_hidden"],
        ),
    ] = None,
    activation: Annotated[
        ActivationChoice | None,
        typer.Option(rich_help_panel=ARCH, show_default=TRAIN_DEFAULTS["activation"]),
    ] = None,
    init: Annotated[
        InitChoice | None,
        typer.Option(
            help="Weight initialisation.",
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["init"],
        ),
    ] = None,
    init_scale: Annotated[
        float | None,
        typer.Option(
            help="Initialisation scale.",
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["init_scale"],
        ),
    ] = None,
    dropout: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=0.95,
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["dropout"],
        ),
    ] = None,
    batch_norm: Annotated[
        bool | None,
        typer.Option(
            "--batch-norm/--no-batch-norm",
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["batch_norm"],
        ),
    ] = None,
    gamma: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Weight of the reconstruction loss; 0 turns the decoder off.",
            rich_help_panel=ARCH,
            show_default=TRAIN_DEFAULTS["gamma"],
        ),
    ] = None,
    optimizer: Annotated[
        OptimizerChoice | None,
        typer.Option(rich_help_panel=OPT, show_default=TRAIN_DEFAULTS["optimizer"]),
    ] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(
            "--learning-rate",
            "--lr",
            min=0.0,
            rich_help_panel=OPT,
            show_default=TRAIN_DEFAULTS["learning_rate"],
        ),
    ] = None,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="L2 weight decay.",
            rich_help_panel=OPT,
            show_default=TRAIN_DEFAULTS["weight_decay"],
        ),
    ] = None,
    clip_norm: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Clip the gradient norm; 0 = off.",
            rich_help_panel=OPT,
            show_default=TRAIN_DEFAULTS["clip_norm"],
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1, rich_help_panel=OPT, show_default=TRAIN_DEFAULTS["batch_size"]
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(min=1, rich_help_panel=OPT, show_default=TRAIN_DEFAULTS["epochs"]),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Epochs without a better validation accuracy before stopping.",
            rich_help_panel=OPT,
            show_default=TRAIN_DEFAULTS["patience"],
        ),
    ] = None,
    leave_batch_out: Annotated[
        bool | None,
        typer.Option(
            "--leave-batch-out/--no-leave-batch-out",
            help="Recompute the embedding without each batch's own samples.",
            rich_help_panel=OPT,
            show_default=TRAIN_DEFAULTS["leave_batch_out"],
        ),
    ] = None,
    val_fraction: ValFraction = 0.1,
    folds: Folds = None,
    fold: Fold = None,
    embedding: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Embedding from 'dietnet embed -o'."
        ),
    ] = None,
    device: Annotated[
        DeviceChoice, typer.Option(help="auto takes CUDA when present.")
    ] = DeviceChoice.auto,
    mixed_precision: Annotated[
        bool, typer.Option(help="bfloat16 autocast on GPU (ignored on CPU).")
    ] = True,
    build: Build = None,
    resume: Annotated[
        bool, typer.Option(help="Continue a killed run from its checkpoint.")
    ] = False,
    seed: Seed = 0,
    threads: Annotated[
        int | None,
        typer.Option("--threads", "-t", min=1, help="CPU threads for torch."),
    ] = None,
    force: Force = False,
    show_progress: ShowProgress = True,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Train a Diet Network on a dataset and write a model file.

    Holds out a stratified validation split for early stopping and
    calibration, computes the embedding from the training samples only, and
    writes the model with its metrics (.metrics.tsv) and curve (.curve.png).
    """
    _setup_logging(verbose, quiet)
    import torch

    from dietnet_cli.fit import TrainConfig
    from dietnet_cli.model import ModelConfig
    from dietnet_cli.train import resolve_device
    from dietnet_cli.train import train as run_train

    if threads:
        torch.set_num_threads(threads)
    layers = None
    if hidden_layers is not None:
        try:
            layers = tuple(int(w) for w in hidden_layers.split(",") if w.strip())
        except ValueError:
            raise DietnetError(
                f"--hidden-layers '{hidden_layers}' is not a comma-separated list "
                "of widths, e.g. '100,100'."
            ) from None
    try:
        model_config = ModelConfig(
            **_given(
                model=model.value if model else None,
                num_hidden=num_hidden,
                hidden_layers=layers,
                aux_hidden=aux_hidden,
                activation=activation.value if activation else None,
                init=init.value if init else None,
                init_scale=init_scale,
                dropout=dropout,
                batch_norm=batch_norm,
                gamma=gamma,
            )
        )
        resolved = resolve_device(device.value)
        train_config = TrainConfig(
            **_given(
                optimizer=optimizer.value if optimizer else None,
                learning_rate=learning_rate,
                weight_decay=weight_decay,
                clip_norm=clip_norm,
                batch_size=batch_size,
                epochs=epochs,
                patience=patience,
                leave_batch_out=leave_batch_out,
                seed=seed,
                device=resolved,
                mixed_precision=mixed_precision and resolved == "cuda",
            )
        )
    except ValueError as error:
        raise DietnetError(str(error)) from None
    summary = run_train(
        dataset,
        out=out,
        model_config=model_config,
        train_config=train_config,
        split=_split(val_fraction, folds, fold, seed),
        embedding_path=embedding,
        build=build,
        resume=resume,
        force=force,
        show_progress=show_progress,
    )
    _say(
        f"Wrote model {summary.model_path} (metrics {summary.metrics_path.name}, "
        f"curve {summary.curve_path.name})."
    )


ModelArgument = Annotated[
    Path,
    typer.Argument(
        metavar="MODEL",
        exists=True,
        dir_okay=False,
        help="Model file written by 'dietnet train'.",
    ),
]
InputArgument = Annotated[
    str,
    typer.Argument(
        metavar="INPUT",
        help="VCF/BCF file, '-' for VCF on stdin, or PLINK .bed (or prefix).",
    ),
]
ALIGN = "Alignment and flags"
MinOverlap = Annotated[
    float,
    typer.Option(
        min=0.0,
        help="Refuse the input when fewer model variants are found: a fraction "
        "(<= 1) or a count.",
        rich_help_panel=ALIGN,
    ),
]
LowOverlap = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Flag a sample low_overlap when it has calls at fewer than this "
        "fraction of the model's variants.",
        rich_help_panel=ALIGN,
    ),
]
MinProbability = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Flag a sample low_confidence below this top-class probability.",
        rich_help_panel=ALIGN,
    ),
]
IgnoreBuild = Annotated[
    bool,
    typer.Option(
        help="Predict even when the input header names another genome build.",
        rich_help_panel=ALIGN,
    ),
]


def _predict_options(
    min_overlap: float,
    low_overlap: float,
    min_probability: float,
    ignore_build: bool,
    threads: int,
):
    from dietnet_cli.predict import PredictOptions

    return PredictOptions(
        min_overlap=min_overlap,
        low_overlap=low_overlap,
        min_probability=min_probability,
        ignore_build=ignore_build,
        threads=threads,
    )


@app.command()
def predict(
    model: ModelArgument,
    input_path: InputArgument,
    out: Annotated[
        str, typer.Option("--out", "-o", help="Predictions TSV, or '-' for stdout.")
    ],
    min_overlap: MinOverlap = 0.05,
    low_overlap: LowOverlap = 0.5,
    min_probability: MinProbability = 0.5,
    ignore_build: IgnoreBuild = False,
    threads: Threads = 1,
    force: Force = False,
    show_progress: ShowProgress = True,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Predict the ancestry of every sample in INPUT.

    Matches INPUT's SNPs to the model's by position and alleles (chr
    prefixes, REF/ALT swaps and strand flips handled; palindromic SNPs only
    when identical) and writes one row per sample with calibrated class
    probabilities.
    """
    _setup_logging(verbose, quiet)
    import torch

    from dietnet_cli.predict import predict as run_predict
    from dietnet_cli.predict import write_predictions

    torch.set_num_threads(threads)
    if out != "-":
        from dietnet_cli.outputs import check_writable

        check_writable(Path(out), force=force, what="predictions file")
    result = run_predict(
        model,
        input_path,
        options=_predict_options(
            min_overlap, low_overlap, min_probability, ignore_build, threads
        ),
        show_progress=show_progress,
    )
    write_predictions(result, out, force=force)
    if out != "-":
        _say(f"Wrote predictions for {len(result.sample_id):,} samples to {out}.")


@app.command()
def evaluate(
    model: ModelArgument,
    input_path: InputArgument,
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            "-l",
            exists=True,
            dir_okay=False,
            readable=True,
            help="TSV of the true labels of INPUT's samples.",
        ),
    ],
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="Report directory, or '-' for the metrics JSON on stdout.",
        ),
    ],
    label_column: LabelColumn = None,
    group_column: GroupColumn = None,
    baselines: Annotated[
        bool,
        typer.Option(
            help="Also score logistic regression, PCA + SVM and the assignment "
            "test (needs --train).",
            rich_help_panel="Baselines",
        ),
    ] = False,
    train_dataset: Annotated[
        Path | None,
        typer.Option(
            "--train",
            exists=True,
            file_okay=False,
            help=(
                "The dataset the model was trained on (any other is refused); "
                "the baselines learn from its training split."
            ),
            rich_help_panel="Baselines",
        ),
    ] = None,
    min_overlap: MinOverlap = 0.05,
    low_overlap: LowOverlap = 0.5,
    min_probability: MinProbability = 0.5,
    ignore_build: IgnoreBuild = False,
    threads: Threads = 1,
    force: Force = False,
    show_progress: ShowProgress = True,
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Score a model's predictions for INPUT against known labels.

    Predicts INPUT as 'dietnet predict' does and writes a report directory:
    metrics.json, confusion_matrix.tsv, predictions.tsv, figures and a
    self-contained report.html.
    """
    _setup_logging(verbose, quiet)
    import torch

    from dietnet_cli.evaluate import evaluate as run_evaluate

    if baselines and train_dataset is None:
        raise DietnetError(
            "--baselines needs --train DATASET, the dataset the model was trained on."
        )
    if train_dataset is not None and not baselines:
        raise DietnetError("--train is used only with --baselines; add --baselines.")
    torch.set_num_threads(threads)
    result = run_evaluate(
        model,
        input_path,
        labels_path=labels,
        out=out,
        options=_predict_options(
            min_overlap, low_overlap, min_probability, ignore_build, threads
        ),
        label_column=label_column,
        group_column=group_column,
        train_dataset=train_dataset,
        force=force,
        show_progress=show_progress,
    )
    if out != "-":
        _say(
            f"Wrote evaluation of {result.metrics['num_samples']:,} samples to {out} "
            f"(accuracy {result.metrics['accuracy']:.4f}; open {out}/report.html)."
        )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dietnet {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Predict genetic ancestry from genotypes with Diet Networks."""


# Whether a termination signal arrived (SIGTERM, as a pipeline manager
# sends when it cancels a job).
_terminated = False


def _on_terminate(_signal: int, _frame: object) -> None:
    # Unwind as after Ctrl-C, so that temporary files are removed; a
    # second signal does not cut that short.
    global _terminated
    _terminated = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _stopped() -> NoReturn:
    if _terminated:
        print("Terminated.", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    print("Interrupted.", file=sys.stderr)
    sys.exit(130)


def main() -> None:
    """Entry point: run the app, turning user errors into one line."""
    global _terminated
    _terminated = False
    allocator.keep_freed_memory()
    previous = signal.signal(signal.SIGTERM, _on_terminate)
    try:
        _run()
        if _terminated:  # its exception was dropped where it was raised
            _stopped()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run() -> None:
    try:
        # Outside standalone mode typer returns an exit code instead of
        # leaving: 130 after Ctrl-C (its callbacks return None).
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            if code == 130:
                _stopped()
            sys.exit(code)
    except DietnetError as error:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"Error: {error}", markup=False
        )
        sys.exit(1)
    except BrokenPipeError:
        # A reader such as `head` closed our stdout: end quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        _stopped()
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        sys.exit(1)
    except Exception as error:
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise
