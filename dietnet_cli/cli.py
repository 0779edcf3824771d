"""The ``dietnet`` command line: thin wrappers over the pipeline stages.

Each command parses its options, sets up logging, calls one library function
with keyword arguments and says where the output went. Errors a user can fix
arrive as :class:`DietnetError` and become one ``Error:`` line on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from dietnet_cli import __version__
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
    from dietnet_cli.prepare import Filters
    from dietnet_cli.prepare import prepare as run_prepare

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


def main() -> None:
    """Entry point: run the app, turning user errors into one line."""
    try:
        app(standalone_mode=False)
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
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)
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
