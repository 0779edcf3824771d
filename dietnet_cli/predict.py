"""The ``predict`` stage: ancestry of new samples from a model file.

The first layer of the network is linear, so the input is streamed a block
of variants at a time: each block is matched to the model's variants
(:mod:`dietnet_cli.harmonize`) and its contribution ``x @ W_e`` is added to
a (num_samples, num_hidden) accumulator. Memory stays O(num_samples x
num_hidden) plus one block, whatever the number of variants. Model variants
absent from the input, and missing calls, contribute nothing, neither their
dosage nor their share of the offset, and each sample's sum is scaled up to
the model's number of variants (:meth:`FirstLayer.complete`).
"""

from __future__ import annotations

import csv
import io
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dietnet_cli import genome, harmonize, modelfile, outputs, plink, progress, vcf
from dietnet_cli.errors import AlignmentError, DietnetError
from dietnet_cli.genotypes import VariantBlock
from dietnet_cli.model import DietNetwork, FirstLayer, ModelConfig

logger = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_LOW_CONFIDENCE = "low_confidence"
STATUS_LOW_OVERLAP = "low_overlap"


@dataclass(frozen=True)
class PredictOptions:
    """How to align and when to flag.

    Attributes
    ----------
    min_overlap
        Refuse the input when fewer model variants are found: a fraction of
        the model's variants when at most 1, else a count.
    low_overlap
        Mark a sample ``low_overlap`` when it has calls at fewer than this
        fraction of the model's variants.
    min_probability
        Mark a sample ``low_confidence`` when its top class probability is
        lower.
    ignore_build
        Predict even when the input header names another genome build.
    """

    min_overlap: float = 0.05
    low_overlap: float = 0.5
    min_probability: float = 0.5
    ignore_build: bool = False
    threads: int = 1


@dataclass
class Predictions:
    """Calibrated class probabilities for every sample of an input."""

    sample_id: list[str]
    classes: tuple[str, ...]
    group_of: dict[str, str]
    probabilities: np.ndarray  # (num_samples, num_classes) float64
    num_variants_used: np.ndarray  # (num_samples,) int64
    status: list[str]
    counts: harmonize.MatchCounts
    num_model_variants: int

    def predicted(self) -> list[str]:
        return [self.classes[i] for i in self.probabilities.argmax(axis=1)]

    def group_probabilities(self) -> tuple[list[str], np.ndarray]:
        """Groups and (num_samples, num_groups) summed class probabilities."""
        groups = sorted(set(self.group_of.values()))
        matrix = np.zeros((len(self.classes), len(groups)))
        for index, label in enumerate(self.classes):
            matrix[index, groups.index(self.group_of[label])] = 1.0
        return groups, self.probabilities @ matrix


def load_network(model: modelfile.ModelFile) -> tuple[DietNetwork, FirstLayer]:
    """The network of a model file, in eval mode, and its first layer."""
    config = ModelConfig.from_dict(model.model_config)
    network = DietNetwork(
        config, num_variants=len(model.variants), num_classes=len(model.classes)
    )
    state = {name: torch.from_numpy(np.array(w)) for name, w in model.weights.items()}
    network.load_state_dict(state)
    network.eval()
    with torch.no_grad():
        first = network.first_layer_weights(
            torch.from_numpy(model.class_counts), variant_terms=True
        )
    return network, first


def predict(
    model_path: Path,
    input_path: str,
    *,
    options: PredictOptions = PredictOptions(),
    show_progress: bool = True,
) -> Predictions:
    """Predict the class of every sample of a VCF/BCF/PLINK input."""
    model = modelfile.load(model_path)
    network, first = load_network(model)
    matcher = harmonize.VariantMatcher(
        model.variants.chrom,
        model.variants.position,
        model.variants.ref,
        model.variants.alt,
    )

    # Open the input and check its genome build against the model's.
    if plink.is_plink(input_path):
        fileset = plink.read_fileset(input_path)
        sample_id = list(fileset.sample_id)
        blocks = plink.iter_blocks(
            fileset, keep_contig=matcher.keeps_contig, threads=options.threads
        )
        build, evidence = None, ""
    else:
        reader = vcf.open_reader(input_path, threads=options.threads)
        sample_id = list(reader.samples)
        build, evidence = genome.build_from_vcf_header(reader.raw_header.splitlines())
        blocks = vcf.iter_blocks(
            input_path,
            reader=reader,
            keep_contig=matcher.keeps_contig,
            threads=options.threads,
        )
    if build and model.build and build != model.build and not options.ignore_build:
        raise AlignmentError(
            f"Input {input_path} is on {build} ({evidence}) but model {model_path} "
            f"was trained on {model.build}; lift the input over to {model.build}, or "
            "pass --ignore-build if the header is wrong."
        )

    # Stream the blocks, adding each one's share of the first layer.
    num_samples = len(sample_id)
    # (num_samples, num_hidden) float64 accumulator of x @ W_e
    hidden = torch.zeros(num_samples, first.weight_e.shape[1], dtype=torch.float64)
    used = np.zeros(num_samples, dtype=np.int64)
    with progress.bar("Predicting", enabled=show_progress) as bar, torch.no_grad():
        for block in _whole_positions(blocks):
            match = matcher.match(block)
            bar.advance(block.num_variants)
            if len(match.column) == 0:
                continue
            # (num_samples, num_matched) int8, -1 = missing
            dosage = block.dosage[:, match.column]
            if match.swap.any():
                swapped = dosage[:, match.swap]
                dosage[:, match.swap] = np.where(swapped >= 0, 2 - swapped, swapped)
            called = dosage >= 0
            used += called.sum(axis=1)
            index = torch.from_numpy(match.model_index)
            x = network.transform(torch.from_numpy(dosage), index)
            hidden += first.partial_sum(x, torch.from_numpy(called), index).double()

    counts = matcher.counts
    _log_matching(counts, matcher.num_variants, input_path)
    _check_overlap(counts, matcher.num_variants, options, input_path, model)

    # Calibrated probabilities: softmax(logits / T), from the sum over the
    # variants each sample has (FirstLayer.complete).
    with torch.no_grad():
        h = first.complete(hidden, torch.from_numpy(used))
        logits = network.head(h.float()).double()
        probabilities = torch.softmax(logits / model.temperature, dim=1).numpy()
    status = []
    for sample in range(num_samples):
        if used[sample] < options.low_overlap * matcher.num_variants:
            status.append(STATUS_LOW_OVERLAP)
        elif probabilities[sample].max() < options.min_probability:
            status.append(STATUS_LOW_CONFIDENCE)
        else:
            status.append(STATUS_OK)
    return Predictions(
        sample_id=sample_id,
        classes=model.classes,
        group_of=model.group_of,
        probabilities=probabilities,
        num_variants_used=used,
        status=status,
        counts=counts,
        num_model_variants=matcher.num_variants,
    )


def _whole_positions(blocks: Iterator[VariantBlock]) -> Iterator[VariantBlock]:
    """Re-cut blocks so that records at one position never straddle two
    blocks, which lets duplicate positions of a sorted input be found."""
    carry: VariantBlock | None = None
    for block in blocks:
        if carry is not None and carry.num_variants:
            block = _concat(carry, block)
        if block.num_variants == 0:
            carry = None
            yield block
            continue
        last = (block.chrom[-1], block.position[-1])
        cut = block.num_variants
        while cut > 0 and (block.chrom[cut - 1], block.position[cut - 1]) == last:
            cut -= 1
        carry = _slice(block, cut, block.num_variants)
        head = _slice(block, 0, cut)
        head.dropped = block.dropped
        yield head
    if carry is not None and carry.num_variants:
        yield carry


def _slice(block: VariantBlock, start: int, stop: int) -> VariantBlock:
    return VariantBlock(
        chrom=block.chrom[start:stop],
        position=block.position[start:stop],
        variant_id=block.variant_id[start:stop],
        ref=block.ref[start:stop],
        alt=block.alt[start:stop],
        dosage=block.dosage[:, start:stop],
    )


def _concat(first: VariantBlock, second: VariantBlock) -> VariantBlock:
    if second.num_variants == 0:
        dosage = first.dosage
    else:
        dosage = np.concatenate([first.dosage, second.dosage], axis=1)
    return VariantBlock(
        chrom=first.chrom + second.chrom,
        position=np.concatenate([first.position, second.position]),
        variant_id=first.variant_id + second.variant_id,
        ref=first.ref + second.ref,
        alt=first.alt + second.alt,
        dosage=dosage,
        dropped=second.dropped,
    )


def _log_matching(
    counts: harmonize.MatchCounts, num_model: int, input_path: str
) -> None:
    logger.info(
        "Found %s of %s model variants in %s (%s with REF/ALT swapped, %s "
        "strand-flipped); %s absent are left out of every sample's score.",
        f"{counts.found:,}",
        f"{num_model:,}",
        "standard input" if input_path == "-" else input_path,
        f"{counts.swapped:,}",
        f"{counts.flipped:,}",
        f"{num_model - counts.found:,}",
    )
    if counts.allele_mismatch or counts.duplicate:
        logger.warning(
            "%d input SNPs at model positions have other alleles and %d are "
            "duplicates; they are not used.",
            counts.allele_mismatch,
            counts.duplicate,
        )
    skipped = {k: v for k, v in counts.dropped.items() if k != "contig"}
    if skipped:
        logger.info(
            "Passed over: %s.",
            ", ".join(f"{n:,} {k}" for k, n in sorted(skipped.items())),
        )


def _check_overlap(
    counts: harmonize.MatchCounts,
    num_model: int,
    options: PredictOptions,
    input_path: str,
    model: modelfile.ModelFile,
) -> None:
    needed = (
        int(np.ceil(options.min_overlap * num_model))
        if options.min_overlap <= 1
        else int(options.min_overlap)
    )
    if counts.found >= max(needed, 1):
        return
    found = (
        f"Only {counts.found:,} of {num_model:,} model variants were found in "
        f"{input_path}"
    )
    if counts.on_model_contigs == 0:
        cause = (
            "no input SNP is on the model's chromosomes (1-22, compared without "
            "'chr'): check that the input holds autosomal biallelic SNPs"
        )
    elif (
        counts.at_model_positions < 0.2 * max(needed, 1)
        and counts.on_model_contigs > needed
    ):
        cause = (
            f"chromosome names match ({counts.on_model_contigs:,} input SNPs) but "
            "positions mostly do not, so the input is probably on a different genome "
            f"build than the model ({model.build or 'build not recorded'}); lift it "
            "over"
        )
    elif counts.allele_mismatch > counts.found:
        cause = (
            f"{counts.allele_mismatch:,} SNPs sit at model positions with other "
            "alleles; check the reference genome and allele coding"
        )
    else:
        cause = "the input covers too few of the model's variants"
    raise AlignmentError(
        f"{found} (at least {needed:,} needed, --min-overlap): {cause}. Nothing "
        "was written."
    )


def table_rows(predictions: Predictions) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the predictions TSV."""
    has_groups = bool(predictions.group_of)
    header = ["sample_id", "predicted", "probability", "status"]
    if has_groups:
        header += ["predicted_group", "group_probability"]
        groups, group_probs = predictions.group_probabilities()
    header += ["num_variants_used"] + [f"prob_{label}" for label in predictions.classes]
    rows = []
    predicted = predictions.predicted()
    for sample in range(len(predictions.sample_id)):
        probs = predictions.probabilities[sample]
        row = [
            predictions.sample_id[sample],
            predicted[sample],
            f"{probs.max():.4f}",
            predictions.status[sample],
        ]
        if has_groups:
            best = int(group_probs[sample].argmax())
            row += [groups[best], f"{group_probs[sample, best]:.4f}"]
        row.append(str(int(predictions.num_variants_used[sample])))
        row += [f"{p:.4g}" for p in probs]
        rows.append(row)
    return header, rows


def write_predictions(predictions: Predictions, out: str, *, force: bool) -> None:
    """Write the predictions TSV to ``out``, or to stdout for ``-``."""
    header, rows = table_rows(predictions)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if out == "-":
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
        return
    try:
        with outputs.atomic_file(
            Path(out), force=force, what="predictions file"
        ) as tmp:
            tmp.write_text(buffer.getvalue())
    except OSError as error:
        raise DietnetError(f"Cannot write predictions {out}: {error}.") from None
