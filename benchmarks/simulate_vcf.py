"""Write a simulated cohort as a bgzipped, tabix-indexed VCF for benchmarks.

Ancestry is simulated with msprime: five super-populations split 2,000
generations ago, each into two populations 400 generations ago, so the
samples carry structure at two levels. Each autosome is simulated on its own
(a stretch short enough to be quick, its positions spread over the GRCh37
length of the chromosome), and a fixed number of single-mutation sites is
kept, split over the chromosomes in proportion to their length. The VCF text
is built a block of variants at a time with numpy and piped through
``bgzip``; ``tabix`` indexes it. A labels TSV (``sample``, ``pop``,
``super_pop``) is written beside it, and with ``--bed`` a PLINK 1 fileset
made by ``plink2 --make-bed``.

Usage::

    python benchmarks/simulate_vcf.py [--variants 200000] [--samples 2504]
        [--chromosomes 22] [--seed 1] [--bed] [-o /work/bench-data/sim-200k]

writes ``PREFIX.vcf.gz``, ``PREFIX.vcf.gz.tbi``, ``PREFIX.labels.tsv`` and,
with ``--bed``, ``PREFIX.bed/.bim/.fam``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import msprime
import numpy as np

# GRCh37 autosome lengths, as in the ##contig lines of the 1000 Genomes VCFs.
GRCH37_LENGTHS = (
    249250621, 243199373, 198022430, 191154276, 180915260, 171115067, 159138663,
    146364022, 141213431, 135534747, 135006516, 133851895, 115169878, 107349540,
    102531392, 90354753, 81195210, 78077248, 59128983, 63025520, 48129895,
    51304566,
)  # fmt: skip
NUM_SUPER = 5
POPS_PER_SUPER = 2
POPULATION_SIZE = 10_000
MUTATION_RATE = 1e-8
RECOMBINATION_RATE = 1e-8
# Sites per simulated base pair for 5,008 haplotypes at the rates above is
# about 0.013; simulate enough sequence for twice the sites needed.
SITES_PER_BP = 0.006
BLOCK = 5_000
# One diploid call per sample: dosage 0, 1, 2 to "0/0\t", "0/1\t", "1/1\t".
CALL_BYTES = np.frombuffer(b"0/0\t0/1\t1/1\t", dtype=np.uint8).reshape(3, 4)
BASES = np.array(list("ACGT"))


def demography() -> tuple[msprime.Demography, list[str], list[str]]:
    """A two-level population tree; returns it with leaf and super names."""
    model = msprime.Demography()
    model.add_population(name="ANC", initial_size=POPULATION_SIZE)
    leaves, supers = [], []
    for s in range(NUM_SUPER):
        supers.append(f"SUP{s}")
        model.add_population(name=f"SUP{s}", initial_size=POPULATION_SIZE)
        for p in range(POPS_PER_SUPER):
            leaves.append(f"POP{s}{p}")
            model.add_population(name=leaves[-1], initial_size=POPULATION_SIZE)
        model.add_population_split(
            time=400, derived=leaves[-POPS_PER_SUPER:], ancestral=f"SUP{s}"
        )
    model.add_population_split(time=2_000, derived=supers, ancestral="ANC")
    model.sort_events()
    return model, leaves, supers


def simulate_contig(
    index: int, num_sites: int, counts: dict[str, int], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (num_sites,) int64 and dosages (num_sites, num_samples) int8
    of one autosome; dosage counts the derived (ALT) allele."""
    model, _, _ = demography()
    length = GRCH37_LENGTHS[index]
    span = int(min(length, max(100_000, num_sites / SITES_PER_BP)))
    while True:
        tree_seq = msprime.sim_ancestry(
            samples=counts,
            demography=model,
            sequence_length=span,
            recombination_rate=RECOMBINATION_RATE,
            random_seed=seed + 1000 * index + 1,
        )
        tree_seq = msprime.sim_mutations(
            tree_seq,
            rate=MUTATION_RATE,
            model=msprime.BinaryMutationModel(),
            random_seed=seed + 1000 * index + 2,
        )
        # Keep num_sites sites that carry exactly one mutation; simulate a
        # longer stretch when there are too few (small samples).
        per_site = np.bincount(tree_seq.mutations_site, minlength=tree_seq.num_sites)
        single = np.flatnonzero(per_site == 1)
        if len(single) >= num_sites:
            break
        if span == length:
            sys.exit(f"chromosome {index + 1}: {len(single)} of {num_sites} sites")
        span = min(length, 2 * span)
    rng = np.random.default_rng(seed + index)
    chosen = np.sort(rng.choice(single, num_sites, replace=False))
    dropped = np.setdiff1d(np.arange(tree_seq.num_sites), chosen)
    tree_seq = tree_seq.delete_sites(dropped)

    # (num_sites, num_haplotypes) int8 0/1, then diploid dosage.
    haplotypes = np.empty((num_sites, tree_seq.num_samples), dtype=np.int8)
    for row, variant in enumerate(tree_seq.variants(copy=False)):
        haplotypes[row] = variant.genotypes
    dosage = haplotypes[:, 0::2] + haplotypes[:, 1::2]
    scale = length // span
    position = tree_seq.sites_position.astype(np.int64) * scale + 1
    return position, dosage


def vcf_header(sample_id: list[str], num_contigs: int) -> bytes:
    lines = ["##fileformat=VCFv4.2", "##reference=GRCh37", "##source=simulate_vcf.py"]
    lines += [
        f"##contig=<ID={i + 1},length={GRCH37_LENGTHS[i]},assembly=b37>"
        for i in range(num_contigs)
    ]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    fixed = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
    lines.append("\t".join(fixed + sample_id))
    return ("\n".join(lines) + "\n").encode()


def vcf_records(chrom: str, position: np.ndarray, dosage: np.ndarray, rng) -> bytes:
    """VCF lines for a block: (num_variants,) positions, (num_variants,
    num_samples) int8 dosages."""
    ref = rng.integers(0, 4, len(position))
    alt = (ref + rng.integers(1, 4, len(position))) % 4
    # (num_variants, num_samples, 4) uint8: one "a/b\t" per call.
    calls = CALL_BYTES[dosage]
    calls[:, -1, 3] = ord("\n")
    prefixes = [
        f"{chrom}\t{pos}\t{chrom}:{pos}\t{r}\t{a}\t.\tPASS\t.\tGT\t".encode()
        for pos, r, a in zip(position.tolist(), BASES[ref], BASES[alt], strict=True)
    ]
    parts = []
    for prefix, row in zip(prefixes, calls, strict=True):
        parts.append(prefix)
        parts.append(row.tobytes())
    return b"".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=2_504)
    parser.add_argument("--chromosomes", type=int, default=22, choices=range(1, 23))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bed", action="store_true", help="also write a .bed set")
    parser.add_argument("-o", "--out", default="/work/bench-data/sim-200k")
    args = parser.parse_args()
    started = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    # Samples: as even a share of the populations as the count allows.
    _, leaves, _ = demography()
    share, extra = divmod(args.samples, len(leaves))
    counts = {name: share + (i < extra) for i, name in enumerate(leaves)}
    population = [name for name in leaves for _ in range(counts[name])]
    sample_id = [f"SIM{i:05d}" for i in range(args.samples)]
    with open(f"{out}.labels.tsv", "w") as handle:
        handle.write("sample\tpop\tsuper_pop\n")
        for sample, pop in zip(sample_id, population, strict=True):
            handle.write(f"{sample}\t{pop}\tSUP{pop[3]}\n")

    # Sites per chromosome, in proportion to the GRCh37 lengths.
    lengths = np.array(GRCH37_LENGTHS[: args.chromosomes], dtype=np.float64)
    sites = np.floor(args.variants * lengths / lengths.sum()).astype(int)
    sites[0] += args.variants - sites.sum()

    vcf_path = Path(f"{out}.vcf.gz")
    rng = np.random.default_rng(args.seed)
    with open(vcf_path, "wb") as handle:
        bgzip = subprocess.Popen(
            ["bgzip", "-c", "-@", "2"], stdin=subprocess.PIPE, stdout=handle
        )
        bgzip.stdin.write(vcf_header(sample_id, args.chromosomes))
        for index, num_sites in enumerate(sites.tolist()):
            position, dosage = simulate_contig(index, num_sites, counts, args.seed)
            for start in range(0, num_sites, BLOCK):
                stop = start + BLOCK
                bgzip.stdin.write(
                    vcf_records(
                        str(index + 1), position[start:stop], dosage[start:stop], rng
                    )
                )
            print(f"chromosome {index + 1}: {num_sites} sites", file=sys.stderr)
        bgzip.stdin.close()
        if bgzip.wait() != 0:
            sys.exit("bgzip failed")
    subprocess.run(["tabix", "-f", "-p", "vcf", str(vcf_path)], check=True)

    if args.bed:
        subprocess.run(
            ["plink2", "--vcf", str(vcf_path), "--make-bed", "--threads", "2"]
            + ["--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    print(
        f"wrote {vcf_path} ({args.samples} samples x {args.variants} variants) "
        f"in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
