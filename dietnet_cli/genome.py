"""Contig names and genome builds.

Files name the same chromosome differently (``chr1`` or ``1``, ``chrM`` or
``MT``) and place the same variant at different positions on different
genome builds. This module is the one place that knows both.
"""

from __future__ import annotations

import re

# Length of chromosome 1 on each build we recognise, from the ##contig lines.
CHR1_LENGTH_TO_BUILD = {
    249_250_621: "GRCh37",
    248_956_422: "GRCh38",
}

_BUILD_ALIASES = {
    "GRCh37": ("grch37", "hg19", "b37", "hs37d5", "human_g1k_v37", "37"),
    "GRCh38": ("grch38", "hg38", "b38", "hs38", "38"),
}

AUTOSOMES = frozenset(str(number) for number in range(1, 23))


def normalize_contig(name: str) -> str:
    """Return a contig name without a ``chr`` prefix, mitochondria as ``MT``.

    >>> normalize_contig("chr7"), normalize_contig("chrM"), normalize_contig("X")
    ('7', 'MT', 'X')
    """
    bare = name[3:] if name[:3].lower() == "chr" else name
    if bare.upper() in ("M", "MT"):
        return "MT"
    if bare.upper() in ("X", "Y"):
        return bare.upper()
    return bare


def is_autosome(name: str) -> bool:
    """True for chromosomes 1-22, with or without a ``chr`` prefix."""
    return normalize_contig(name) in AUTOSOMES


def any_contig(name: str) -> bool:
    """True for every contig (``--all-contigs``; a named function, so that
    it can be sent to worker processes)."""
    return True


def canonical_build(text: str) -> str | None:
    """Map a build name such as ``hg19`` or ``GRCh38.p14`` to GRCh37/GRCh38."""
    lowered = text.strip().lower()
    for build, aliases in _BUILD_ALIASES.items():
        for alias in aliases:
            if len(alias) <= 2:
                if lowered == alias:
                    return build
            elif re.search(rf"(^|[^a-z0-9]){re.escape(alias)}", lowered):
                return build
    return None


def build_from_vcf_header(header_lines: list[str]) -> tuple[str | None, str]:
    """Infer the genome build from VCF header lines.

    Chromosome 1's ``##contig`` length decides when present, because it is a
    measurement rather than a label; otherwise the ``##reference`` line or a
    contig's ``assembly=`` field.

    Returns
    -------
    build, evidence
        The build (``GRCh37``, ``GRCh38``) or None, and a short phrase saying
        which header line told it.
    """
    named = None
    for line in header_lines:
        if line.startswith("##contig=<"):
            fields = dict(
                part.split("=", 1)
                for part in line[len("##contig=<") : -1].split(",")
                if "=" in part
            )
            contig = fields.get("ID", "")
            if normalize_contig(contig) == "1" and "length" in fields:
                length = int(fields["length"]) if fields["length"].isdigit() else 0
                if length in CHR1_LENGTH_TO_BUILD:
                    build = CHR1_LENGTH_TO_BUILD[length]
                    return build, f"##contig {contig} length {length:,}"
            if named is None and "assembly" in fields:
                build = canonical_build(fields["assembly"])
                if build:
                    named = (build, f"##contig assembly={fields['assembly']}")
        elif line.startswith("##reference="):
            build = canonical_build(line.split("=", 1)[1])
            if build:
                named = (build, line.strip())
    if named:
        return named
    return None, "no ##reference or ##contig length in the header"
