"""Read genotypes from VCF and BCF files.

Only biallelic SNPs become genotypes; every other record is counted by the
reason it was passed over. A genotype is the dosage: the number of copies of
the ALT allele (0, 1 or 2) in a diploid call, -1 when any allele is
missing (``.``, ``./.``, ``./1``) or the record has no GT field, as
``bcftools query`` reports them. Fully called haploid or polyploid calls at
a biallelic SNP are refused rather than guessed at, and so is an allele
index beyond the record's alleles.

cyvcf2 (htslib) parses every header, reads BCF and answers region queries.
The records of VCF text are decoded in bulk by :mod:`dietnet_cli.vcftext`;
the lines it leaves are parsed by htslib, a chunk of lines at a time, so
that every record reads as cyvcf2 alone would read it.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import os
import re
import subprocess
import tempfile
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from cyvcf2 import VCF
from cyvcf2.cyvcf2 import set_htslib_log_level

from dietnet_cli import bgzf, genome, vcftext
from dietnet_cli.errors import InputError
from dietnet_cli.genotypes import VariantBlock, alt_alleles
from dietnet_cli.vcfblocks import BlockBuilder

logger = logging.getLogger(__name__)

BLOCK_SIZE = 4096
# Bytes read from a pipe to tell VCF text from BCF before handing it on.
SNIFF_BYTES = 16384
# Compressed bytes of records per process below which a bgzipped VCF is
# read whole by one process rather than in spans by several: below it, the
# cost of a worker (starting, opening the file, sending its part back)
# outweighs what it saves.
SPAN_BYTES = 2 << 20
# The extra compressed bytes of the first span, which the calling process
# starts on at once while the others start. Zero now: forked workers start
# within milliseconds, and the calling process also writes the workers'
# blocks into the matrix (see dietnet_cli.spans); kept to plan spans.
SPAN_HEAD_START = 0
_GT_ID = re.compile(r"[<,]ID=GT[,>]")
_TYPE = re.compile(r"[<,]Type=([^,>]*)")
# The empty block that ends every complete BGZF file (SAM specification 4.1.2).
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


@dataclass(frozen=True)
class VcfHeader:
    """What dietnet needs from a VCF header."""

    path: str
    sample_id: tuple[str, ...]
    # ##contig lines: name and length (None when not given).
    contigs: tuple[tuple[str, int | None], ...]
    # Contig names of the index when there is one, else of the header.
    seqnames: tuple[str, ...]
    build: str | None
    build_evidence: str
    indexed: bool


def _quiet_htslib() -> None:
    # htslib prints its own errors to the C stderr; we report them as one
    # line of our own, so silence it.
    set_htslib_log_level(0)


def _display(path: str) -> str:
    return "standard input" if path == "-" else str(path)


class VcfReader:
    """An opened VCF or BCF input whose header cyvcf2 has parsed.

    VCF text arriving on standard input can be read only once, so its
    header is handed to cyvcf2 on its own and the rest of the stream is
    kept here for the text decoder (``piped``).
    """

    def __init__(
        self,
        path: str,
        vcf: VCF,
        *,
        piped: _PipedText | None = None,
        feeder: subprocess.Popen | None = None,
    ) -> None:
        self.path = path
        self.vcf = vcf
        # Every sample of the file, in file order, whatever set_samples chose.
        self.sample_id: tuple[str, ...] = tuple(vcf.samples)
        self.piped = piped
        self._feeder = feeder

    @property
    def samples(self) -> list[str]:
        """The samples read, in file order."""
        return self.vcf.samples

    @property
    def raw_header(self) -> str:
        return self.vcf.raw_header

    @property
    def seqnames(self) -> list[str]:
        return self.vcf.seqnames

    def set_samples(self, samples: list[str]) -> None:
        """Read only these samples (IDs of the file, in file order)."""
        self.vcf.set_samples(samples)

    def close(self) -> None:
        self.vcf.close()
        if self._feeder is not None:
            self._feeder.stdout.close()
            self._feeder.wait()


@dataclass
class _PipedText:
    """VCF text from a pipe: its header bytes and the stream after them."""

    header: bytes
    stream: vcftext.TextStream


def open_reader(
    path: str, samples: list[str] | None = None, threads: int = 1
) -> VcfReader:
    """Open a VCF/BCF file (``-`` for standard input) and check its header."""
    _quiet_htslib()
    piped = feeder = None
    source: str | int = path
    if path != "-":
        if not os.path.exists(path):
            raise InputError(f"Input file {path} does not exist; check the path.")
        if not os.access(path, os.R_OK):
            raise InputError(f"Input file {path} is not readable; check permissions.")
        if os.path.isdir(path):
            raise InputError(
                f"Input file {path} is a directory; give a .vcf, .vcf.gz or .bcf "
                "file, or a PLINK .bed fileset."
            )
        _check_bgzf_end(path)
    else:
        source, piped, feeder = _open_stdin(threads)
    try:
        vcf = VCF(source, threads=threads if threads > 1 else None, lazy=True)
    except Exception as error:  # cyvcf2 raises bare Exception too
        duplicated = _duplicated_sample(path) if path != "-" else None
        if duplicated:
            raise InputError(
                f"Input file {path} lists sample '{duplicated}' more than once; "
                "give every sample a unique ID (bcftools reheader)."
            ) from None
        reason = _short(error)
        if path == "-":
            reason = reason.replace(str(source), "-")
        raise InputError(
            f"Input file {_display(path)} is not a readable VCF or BCF file "
            f"({reason}); give a .vcf, .vcf.gz or .bcf file, or a PLINK "
            ".bed fileset."
        ) from None
    finally:
        if piped is not None:
            os.unlink(source)
    reader = VcfReader(path, vcf, piped=piped, feeder=feeder)
    if not reader.samples:
        raise InputError(
            f"Input file {_display(path)} has no samples; dietnet needs genotypes."
        )
    duplicated = [s for s, n in Counter(reader.samples).items() if n > 1]
    if duplicated:
        raise InputError(
            f"Input file {_display(path)} lists sample '{duplicated[0]}' more "
            "than once; give every sample a unique ID (bcftools reheader)."
        )
    gt_type = _gt_type(reader.raw_header)
    if gt_type != "String":
        problem = (
            "declares no FORMAT/GT"
            if gt_type is None
            else (f"declares FORMAT/GT with Type={gt_type}")
        )
        raise InputError(
            f"Input file {_display(path)} {problem}; dietnet needs called "
            "genotypes in a GT field declared as ##FORMAT=<ID=GT,Number=1,"
            "Type=String,...>."
        )
    if samples is not None:
        reader.set_samples(samples)
    return reader


def _open_stdin(
    threads: int,
) -> tuple[str | int, _PipedText | None, subprocess.Popen | None]:
    """What cyvcf2 should open for standard input.

    VCF text: the header lines, copied to a temporary file (removed once
    cyvcf2 has read it), and the stream after them. Anything else (BCF, or
    not a VCF at all): a pipe that ``cat`` fills with the bytes read here
    to tell, then the rest of standard input, so that htslib reads the
    stream as it came.
    """
    stdin = open(0, "rb", buffering=0, closefd=False)
    prefix = b""
    while len(prefix) < SNIFF_BYTES and (chunk := stdin.read(SNIFF_BYTES)):
        prefix += chunk
    if vcftext.starts_as_text(prefix):
        stream = vcftext.TextStream(stdin, prefix=prefix, threads=threads)
        try:
            header, _ = stream.read_header()
        except bgzf.DamagedTextError as error:
            raise InputError(
                f"Input file standard input is not a readable VCF or BCF file "
                f"({error}); give a .vcf, .vcf.gz or .bcf file, or a PLINK .bed "
                "fileset."
            ) from None
        with tempfile.NamedTemporaryFile("wb", suffix=".vcf", delete=False) as copy:
            copy.write(header)
        return copy.name, _PipedText(header, stream), None
    read_end, write_end = os.pipe()
    os.write(write_end, prefix)
    os.close(write_end)
    feeder = subprocess.Popen(
        ["cat", f"/dev/fd/{read_end}", "-"],
        stdin=0,
        stdout=subprocess.PIPE,
        pass_fds=(read_end,),
    )
    os.close(read_end)
    return feeder.stdout.fileno(), None, feeder


def _gt_type(raw_header: str) -> str | None:
    """The Type of the header's FORMAT/GT line, None when there is none."""
    for line in raw_header.splitlines():
        if line.startswith("##FORMAT=<") and _GT_ID.search(line):
            found = _TYPE.search(line)
            return found[1] if found else ""
    return None


def _check_bgzf_end(path: str) -> None:
    """Refuse a BGZF file (.vcf.gz, .bcf) that lacks its end-of-file block.

    htslib reads a BGZF file cut at a block boundary as a shorter, valid
    file; only the missing end-of-file block tells that records were lost.
    """
    with open(path, "rb") as handle:
        head = handle.read(len(_BGZF_EOF))
        is_bgzf = head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"
        if not is_bgzf:
            return
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - len(_BGZF_EOF)))
        tail = handle.read()
    if tail != _BGZF_EOF:
        raise InputError(
            f"Input file {path} is truncated (its BGZF end-of-file block is "
            "missing); copy or download it again, or re-create it with bgzip or "
            "'bcftools view'."
        )


def _duplicated_sample(path: str) -> str | None:
    """A sample named twice on a text VCF's #CHROM line, which makes htslib
    refuse the header without saying why."""
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rt", errors="replace") as handle:
            for line in itertools.islice(handle, 1_000_000):
                if line.startswith("#CHROM"):
                    names = line.rstrip("\r\n").split("\t")[9:]
                    counts = Counter(names)
                    return next((n for n in names if counts[n] > 1), None)
                if not line.startswith("##"):
                    return None
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def read_header(path: str | Path) -> VcfHeader:
    """Read the samples, contigs and genome build of a VCF or BCF file."""
    path = str(path)
    reader = open_reader(path)
    try:
        lines = reader.raw_header.splitlines()
        contigs = []
        for line in lines:
            if line.startswith("##contig=<"):
                fields = dict(
                    part.split("=", 1)
                    for part in line[len("##contig=<") : -1].split(",")
                    if "=" in part
                )
                if "ID" in fields:
                    length = fields.get("length", "")
                    contigs.append(
                        (fields["ID"], int(length) if length.isdigit() else None)
                    )
        build, evidence = genome.build_from_vcf_header(lines)
        indexed = path != "-" and _has_index(path)
        return VcfHeader(
            path=path,
            sample_id=tuple(reader.samples),
            contigs=tuple(contigs),
            seqnames=tuple(reader.seqnames),
            build=build,
            build_evidence=evidence,
            indexed=indexed,
        )
    finally:
        if path != "-":
            reader.close()


def is_text(path: str) -> bool:
    """True when ``path`` is VCF text (plain, gzip or BGZF), not BCF."""
    with open(path, "rb") as handle:
        return vcftext.starts_as_text(handle.read(SNIFF_BYTES))


def _has_index(path: str) -> bool:
    return any(os.path.exists(path + suffix) for suffix in (".tbi", ".csi"))


def iter_blocks(
    path: str | Path,
    *,
    samples: list[str] | None = None,
    region: str | None = None,
    region_bounds: tuple[int, int] | None = None,
    keep_contig: Callable[[str], bool] = genome.is_autosome,
    threads: int = 1,
    block_size: int = BLOCK_SIZE,
    reader: VcfReader | None = None,
    decoder: Literal["auto", "htslib"] = "auto",
    span: tuple[int, int | None] | None = None,
    scratch_dir: Path | None = None,
) -> Iterator[VariantBlock]:
    """Yield the biallelic SNPs of a VCF/BCF file in blocks.

    Parameters
    ----------
    path
        The file, or ``-`` for VCF text on standard input.
    samples
        Sample IDs to read, in the file's order; all when None.
    region
        A region such as ``2`` or ``chr2:1-5000000`` (needs an index).
    region_bounds
        With ``region``: keep only records whose POS lies in [start, end], so
        that records overlapping two adjacent regions are read once.
    keep_contig
        Records on contigs for which this is False are passed over, counted
        as ``contig``.
    threads
        Threads for decompression.
    reader
        An already opened reader (used for standard input, which can be
        opened only once).
    decoder
        ``auto`` decodes VCF text in bulk where it can (see
        :mod:`dietnet_cli.vcftext`); ``htslib`` parses every record with
        cyvcf2, as a reference for tests. Both give the same blocks, except
        that only the text decoder sees, and refuses, a record with more
        sample columns than the header names.
    span
        Read only the records of one span of a bgzipped VCF, as planned by
        :func:`text_spans`.
    scratch_dir
        Where to put the temporary VCFs of lines left to htslib (the system's
        temporary directory when None).
    """
    path = str(path)
    if reader is None:
        reader = open_reader(path, samples, threads)
    display = _display(path)
    if region:
        contig = _region_contig(region)
        if contig not in reader.seqnames:
            raise InputError(
                f"Region '{region}' names contig '{contig}', which {display} "
                f"does not have (its contigs: {', '.join(reader.seqnames[:8])}"
                f"{', ...' if len(reader.seqnames) > 8 else ''}); check the "
                "contig name, for example '1' or 'chr1'."
            )
    builder = BlockBuilder(display, keep_contig, block_size)
    by_record = region or (decoder == "htslib" and reader.piped is None)
    text = None if by_record else _open_text(reader, threads, span)
    if span is not None and text is None:
        raise ValueError(f"{display} cannot be read by spans; see text_spans().")
    if text is None:
        # TODO(#2): region queries of VCF text go through htslib, which drops
        # sample columns beyond the header's without a word.
        yield from _record_blocks(reader, display, region, region_bounds, builder)
    else:
        try:
            yield from _text_blocks(
                reader,
                display,
                text,
                builder,
                take=decoder == "auto",
                scratch_dir=scratch_dir,
            )
        finally:
            text.close()
    if builder.pending():
        yield builder.flush()


def _record_blocks(
    reader: VcfReader,
    display: str,
    region: str | None,
    region_bounds: tuple[int, int] | None,
    builder: BlockBuilder,
) -> Iterator[VariantBlock]:
    """Blocks of the records cyvcf2 reads one at a time (BCF, regions)."""
    try:
        if region:
            # cyvcf2 warns on stderr when the index has no record in the
            # region, at the first step of the iteration; an empty region
            # is no problem here.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="no intervals found")
                region_records = iter(reader.vcf(region))
                first = next(region_records, None)
            records = itertools.chain([first] if first else [], region_records)
        else:
            records = reader.vcf
    except Exception as error:
        raise InputError(
            f"Cannot read region '{region}' of {display} ({_short(error)}); "
            "index the file with 'bcftools index' and check the region's "
            "contig name."
        ) from None

    num_samples = len(reader.samples)
    try:
        for variant in records:
            if region_bounds is not None and not (
                region_bounds[0] <= variant.POS <= region_bounds[1]
            ):
                continue
            block = _add_record(builder, variant, num_samples)
            if block is not None:
                yield block
    except InputError:
        raise
    except Exception as error:
        raise _damaged(display, builder, error) from None


def _add_record(
    builder: BlockBuilder, variant, num_samples: int
) -> VariantBlock | None:
    """Pass over or keep one cyvcf2 record; the block it completes, if any."""
    chrom = variant.CHROM
    position = variant.POS
    if builder.passes_over(chrom, variant.REF, variant.ALT):
        return None
    return builder.add_calls(
        chrom,
        position,
        variant.ID or ".",
        variant.REF.upper(),
        variant.ALT[0].upper(),
        _raw_calls(variant, num_samples),
    )


def _damaged(display: str, builder: BlockBuilder, error: BaseException) -> InputError:
    return InputError(
        f"Input file {display} is damaged or malformed{builder.where()} "
        f"({_short(error)}); check it with 'bcftools view {display} > "
        "/dev/null' and fix or re-create it."
    )


@dataclass
class _TextInput:
    """The record text of a VCF text input, with what decoding it needs."""

    header: bytes
    stream: vcftext.TextStream
    facts: vcftext.HeaderFacts
    handle: BinaryIO | None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def count_records(path: str) -> int | None:
    """The number of records the index of ``path`` counts (all contigs);
    None when it counts none. Call only for an indexed file."""
    _quiet_htslib()
    try:
        reader = VCF(path, lazy=True)
    except Exception:  # cyvcf2 raises bare Exception too
        return None
    try:
        return int(reader.num_records) or None
    except (ValueError, OverflowError):
        return None
    finally:
        reader.close()


def text_spans(path: str, num_parts: int) -> list[tuple[int, int | None]]:
    """Spans of a bgzipped VCF for up to ``num_parts`` processes to decode
    side by side (see :mod:`dietnet_cli.bgzf`), each with ``SPAN_BYTES`` of
    records or more; [] when the file is better read whole: not bgzipped
    VCF text that the text decoder reads, or too small."""
    if num_parts < 2 or path == "-":
        return []
    with open(path, "rb") as handle:
        if vcftext.kind_of(handle.read(SNIFF_BYTES)) != "bgzf":
            return []
    reader = open_reader(path)
    try:
        text = _open_text(reader, 1)
        if text is None:
            return []
        text.close()
    finally:
        reader.close()
    with open(path, "rb") as handle:
        return bgzf.plan_spans(handle, num_parts, SPAN_BYTES, SPAN_HEAD_START)


def _open_text(
    reader: VcfReader, threads: int, span: tuple[int, int | None] | None = None
) -> _TextInput | None:
    """The input's record text when it is VCF text, else None (BCF)."""
    if reader.piped is not None:
        header, stream, handle = reader.piped.header, reader.piped.stream, None
    elif reader.path == "-":
        return None
    else:
        handle = open(reader.path, "rb")
        head = handle.read(SNIFF_BYTES)
        if not vcftext.starts_as_text(head):
            handle.close()
            return None
        stream = vcftext.TextStream(handle, prefix=head, threads=threads, span=span)
        try:
            header, complete = stream.read_header()
        except bgzf.DamagedTextError:
            complete = False
        # htslib found the same samples (it parsed this header before).
        names = header.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].split(b"\t")[9:]
        if not complete or tuple(n.decode() for n in names) != reader.sample_id:
            handle.close()
            return None
    return _TextInput(header, stream, _header_facts(reader), handle)


def _header_facts(reader: VcfReader) -> vcftext.HeaderFacts:
    kinds: dict[str, set[str]] = {"CONTIG": set(), "FILTER": {"PASS"}, "INFO": set()}
    formats = {}
    for record in reader.vcf.header_iter():
        kind = record.type
        info = record.info()
        if "ID" not in info:
            continue
        if kind == "FORMAT":
            formats[info["ID"]] = info.get("Type", "")
        elif kind in kinds:
            kinds[kind].add(info["ID"])
    selected = reader.samples
    columns = None
    if tuple(selected) != reader.sample_id:
        index = {name: column for column, name in enumerate(reader.sample_id)}
        columns = np.array([index[name] for name in selected], dtype=np.intp)
    return vcftext.HeaderFacts(
        num_samples=len(reader.sample_id),
        columns=columns,
        contigs=frozenset(kinds["CONTIG"]),
        filters=frozenset(kinds["FILTER"]),
        infos=frozenset(kinds["INFO"]),
        formats=formats,
    )


def _text_blocks(
    reader: VcfReader,
    display: str,
    text: _TextInput,
    builder: BlockBuilder,
    *,
    take: bool,
    scratch_dir: Path | None = None,
) -> Iterator[VariantBlock]:
    """Blocks of VCF text: records decoded in bulk, the rest by htslib."""
    decoder = vcftext.Decoder(text.facts, take=take)
    samples = None if text.facts.columns is None else list(reader.samples)
    num_samples = len(reader.samples)
    try:
        for chunk, start, end in text.stream.lines():
            lines = decoder.decode(chunk, start, end)
            if not lines.fallback:
                yield from builder.add_rows(
                    lines.chrom,
                    lines.position,
                    lines.variant_id,
                    lines.ref,
                    lines.alt,
                    lines.dosage,
                )
                continue
            left = _HtslibLines(
                text.header,
                lines.fallback,
                samples,
                len(reader.sample_id),
                scratch_dir,
            )
            try:
                for row in lines.row_of_line:
                    if row < 0:
                        block = left.add_next(builder, num_samples, display)
                    elif builder.passes_over(
                        lines.chrom[row],
                        lines.ref[row],
                        alt_alleles(lines.alt[row]),
                    ):
                        continue
                    else:
                        block = builder.add_row(
                            lines.chrom[row],
                            lines.position[row],
                            lines.variant_id[row],
                            lines.ref[row].upper(),
                            lines.alt[row].upper(),
                            lines.dosage,
                            row,
                        )
                    if block is not None:
                        yield block
            finally:
                left.close()
    except bgzf.DamagedTextError as error:
        raise _damaged(display, builder, error) from None


class _HtslibLines:
    """Lines the text decoder left, parsed by htslib with the file's header,
    as one temporary VCF (only opened when there are such lines)."""

    def __init__(
        self,
        header: bytes,
        lines: list[bytes],
        samples: list[str] | None,
        num_file_samples: int,
        directory: Path | None = None,
    ) -> None:
        self._path = None
        self._vcf = None
        self._lines = lines
        self._num_file_samples = num_file_samples
        self._next_line = 0
        if not lines:
            return
        with tempfile.NamedTemporaryFile(
            "wb", suffix=".vcf", dir=directory, delete=False
        ) as copy:
            copy.write(header)
            copy.writelines(lines)
        self._path = copy.name
        self._vcf = VCF(self._path, lazy=True)
        if samples is not None:
            self._vcf.set_samples(samples)
        self._records = iter(self._vcf)

    def add_next(
        self, builder: BlockBuilder, num_samples: int, display: str
    ) -> VariantBlock | None:
        """Pass over or keep the next line's record, as :func:`_record_blocks`
        would; the block it completes, if any."""
        self._check_columns(display)
        try:
            variant = next(self._records, None)
            if variant is None:
                # htslib makes one record (or an error) of every line.
                raise RuntimeError("htslib read fewer records than lines")
            return _add_record(builder, variant, num_samples)
        except InputError:
            raise
        except Exception as error:
            raise _damaged(display, builder, error) from None

    def _check_columns(self, display: str) -> None:
        """Refuse the next line where htslib would misread it."""
        line = self._lines[self._next_line].rstrip(b"\r\n")
        self._next_line += 1
        if not line.strip():
            # htslib reads an empty line as a record on contig "" (cyvcf2
            # then crashes), so it is refused here.
            raise InputError(
                f"Input file {display} has an empty line among its records; "
                "remove empty lines (for example with grep -v '^$') and retry."
            )
        # htslib (and so bcftools) silently drops sample columns beyond the
        # header's; they would shift every genotype after them, so refuse
        # them, unless they are empty (a trailing tab).
        fields = line.split(b"\t")
        expected = 9 + self._num_file_samples
        if self._num_file_samples > 0 and any(fields[expected:]):
            where = b":".join(fields[:2]).decode(errors="replace")
            raise InputError(
                f"Input file {display} is damaged or malformed at {where}: the "
                f"record has {len(fields) - 9} sample columns but the header "
                f"names {self._num_file_samples}; fix or re-create the file."
            )

    def close(self) -> None:
        if self._vcf is not None:
            self._vcf.close()
            os.unlink(self._path)
            self._vcf = None


def _region_contig(region: str) -> str:
    """The contig of a region such as ``chr2``, ``2:100-200`` or ``2:100-``."""
    name, colon, span = region.rpartition(":")
    if colon and re.fullmatch(r"[\d,]+(-[\d,]*)?", span):
        return name
    return region


def _raw_calls(variant, num_samples: int) -> np.ndarray:
    """The record's allele indices, all missing when it has no GT field.

    A record without FORMAT/GT has no called genotype, which bcftools too
    reports as missing; cyvcf2 raises a bare Exception for it instead.
    """
    try:
        return variant.genotype.array()
    except Exception:
        # The header declares GT as a string (open_reader checks it), so
        # the only failure left is a record without GT. variant.FORMAT would
        # tell, but it crashes on some lazily unpacked records.
        pass
    # (num_samples, ploidy + 1) int16: two missing alleles and the phase flag.
    missing = np.full((num_samples, 3), -1, dtype=np.int16)
    missing[:, -1] = 0
    return missing
