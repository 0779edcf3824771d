"""Make realistic variants of a clean VCF, as users' files come.

Used by the tests and by ``benchmarks/alignment.py``: the same samples with
``chr``-prefixed contigs, part of the sites absent, REF/ALT swapped at some
sites, missing calls, multi-allelic records, or moved to GRCh38 coordinates.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

GRCH38_CHR1 = 248_956_422


def _open_text(path: Path):
    path = Path(path)
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def _swap_gt(field: str) -> str:
    return "".join({"0": "1", "1": "0"}.get(char, char) for char in field)


def degrade_vcf(
    source: Path,
    target: Path,
    *,
    seed: int = 1,
    chr_prefix: bool = True,
    drop: float = 0.2,
    swap: float = 0.15,
    missing: float = 0.03,
    multiallelic: float = 0.03,
    grch38: bool = False,
) -> dict:
    """Write a degraded copy of ``source`` (plain VCF text) to ``target``.

    Returns counts of what was changed.
    """
    rng = random.Random(seed)
    changed = {"dropped": 0, "swapped": 0, "multiallelic": 0, "missing_calls": 0}
    with _open_text(source) as handle, open(target, "w") as out:
        for line in handle:
            if line.startswith("##"):
                if grch38 and line.startswith("##reference"):
                    line = "##reference=GRCh38\n"
                if line.startswith("##contig=<ID="):
                    name = line[len("##contig=<ID=") :].split(",")[0].rstrip(">\n")
                    if grch38 and name in ("1", "chr1"):
                        line = line.replace("249250621", str(GRCH38_CHR1))
                    line = line.replace(
                        "assembly=GRCh37",
                        "assembly=GRCh38" if grch38 else "assembly=GRCh37",
                    )
                    if chr_prefix:
                        line = line.replace(f"ID={name}", f"ID=chr{name}", 1)
                out.write(line)
                continue
            if line.startswith("#"):
                out.write(line)
                continue
            fields = line.rstrip("\n").split("\t")
            if rng.random() < drop:
                changed["dropped"] += 1
                continue
            if chr_prefix:
                fields[0] = "chr" + fields[0]
            if grch38:
                # Lifted positions differ from GRCh37 ones by a varying offset.
                fields[1] = str(int(fields[1]) + rng.randint(10_000, 900_000))
            ref, alt = fields[3], fields[4]
            if rng.random() < multiallelic:
                other = next(base for base in "ACGT" if base not in (ref, alt))
                fields[4] = f"{alt},{other}"
                changed["multiallelic"] += 1
            elif rng.random() < swap:
                fields[3], fields[4] = alt, ref
                fields[9:] = [_swap_gt(call) for call in fields[9:]]
                changed["swapped"] += 1
            for column in range(9, len(fields)):
                if rng.random() < missing:
                    fields[column] = "./."
                    changed["missing_calls"] += 1
            out.write("\t".join(fields) + "\n")
    return changed
