"""Read the sample label file: which population each sample belongs to.

The file is a TSV with a header. The sample column is ``sample``,
``sample_id`` or ``IID`` when present, else the first column. The label
column is chosen by the caller, ``pop`` by default; an optional group column
(``super_pop`` by default) records the population → super-population
hierarchy. The 1000 Genomes panel file works unchanged.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from dietnet_cli.errors import InputError

logger = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("sample", "sample_id", "IID")
DEFAULT_LABEL_COLUMN = "pop"
DEFAULT_GROUP_COLUMN = "super_pop"
MISSING_VALUES = frozenset(["", "NA", "na", "NaN", "nan", "."])


@dataclass(frozen=True)
class Labels:
    """Labels read from a label file, one entry per labelled sample."""

    path: Path
    sample_id: tuple[str, ...]
    label: tuple[str, ...]
    # None when the file has no group column.
    group: tuple[str, ...] | None
    label_column: str
    group_column: str | None
    # Samples listed without a label value.
    num_unlabelled: int

    def as_dict(self) -> dict[str, str]:
        return dict(zip(self.sample_id, self.label, strict=True))

    def group_of(self) -> dict[str, str]:
        """Map each label to its group; empty when there are no groups."""
        if self.group is None:
            return {}
        return dict(zip(self.label, self.group, strict=True))


def read_labels(
    path: Path,
    *,
    label_column: str | None = None,
    group_column: str | None = None,
) -> Labels:
    """Read a label TSV.

    Parameters
    ----------
    path
        The TSV file.
    label_column
        Column holding the class label; ``pop`` when None.
    group_column
        Column holding each label's group; ``super_pop`` when None and the
        column exists, otherwise no groups.
    """
    path = Path(path)
    try:
        # utf-8-sig: a byte-order mark from a spreadsheet is not a column name.
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
    except FileNotFoundError:
        raise InputError(f"Label file {path} does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"Cannot read label file {path}: {error}.") from None

    rows = [row for row in rows if row and not row[0].startswith("#")]
    if len(rows) < 2:
        raise InputError(
            f"Label file {path} has no samples; it needs a header line and one "
            "tab-separated row per sample."
        )
    header = [name.strip() for name in rows[0]]
    if len(header) < 2:
        raise InputError(
            f"Label file {path} has a single column; it must be tab-separated "
            "with a sample column and a label column."
        )

    sample_index = next(
        (header.index(name) for name in SAMPLE_COLUMNS if name in header), 0
    )
    if label_column is None:
        if DEFAULT_LABEL_COLUMN not in header:
            raise InputError(
                f"Label file {path} has no '{DEFAULT_LABEL_COLUMN}' column; "
                f"name the label column with --label-column (columns: "
                f"{', '.join(header)})."
            )
        label_column = DEFAULT_LABEL_COLUMN
    if label_column not in header:
        raise InputError(
            f"Label file {path} has no column '{label_column}'; columns are "
            f"{', '.join(header)}."
        )
    label_index = header.index(label_column)
    if group_column is None and DEFAULT_GROUP_COLUMN in header:
        group_column = DEFAULT_GROUP_COLUMN
    if group_column is not None and group_column not in header:
        raise InputError(
            f"Label file {path} has no column '{group_column}'; columns are "
            f"{', '.join(header)}."
        )
    group_index = header.index(group_column) if group_column else None

    sample_ids: list[str] = []
    labels: list[str] = []
    groups: list[str] = []
    seen: dict[str, int] = {}
    num_unlabelled = 0
    for line_number, row in enumerate(rows[1:], start=2):
        needed = max(sample_index, label_index, group_index or 0)
        if len(row) <= needed:
            raise InputError(
                f"Label file {path} line {line_number} has {len(row)} columns, "
                f"fewer than the header's {len(header)}; fix that line."
            )
        sample = row[sample_index].strip()
        if sample in seen:
            raise InputError(
                f"Label file {path} lists sample '{sample}' twice (lines "
                f"{seen[sample]} and {line_number}); keep one row per sample."
            )
        seen[sample] = line_number
        label = row[label_index].strip()
        if label in MISSING_VALUES:
            num_unlabelled += 1
            continue
        sample_ids.append(sample)
        labels.append(label)
        if group_index is not None:
            groups.append(row[group_index].strip())

    if not sample_ids:
        raise InputError(
            f"Label file {path} has no value in column '{label_column}' for any "
            "of its samples; name the label column with --label-column."
        )
    if group_index is not None:
        _check_hierarchy(path, labels, groups)
    if num_unlabelled:
        logger.warning(
            "%d samples in %s have no value in column '%s' and are left out.",
            num_unlabelled,
            path,
            label_column,
        )
    return Labels(
        path=path,
        sample_id=tuple(sample_ids),
        label=tuple(labels),
        group=tuple(groups) if group_index is not None else None,
        label_column=label_column,
        group_column=group_column,
        num_unlabelled=num_unlabelled,
    )


def _check_hierarchy(path: Path, labels: list[str], groups: list[str]) -> None:
    """Each label must belong to exactly one group."""
    group_of: dict[str, str] = {}
    for label, group in zip(labels, groups, strict=True):
        if group_of.setdefault(label, group) != group:
            raise InputError(
                f"Label file {path} puts label '{label}' in two groups "
                f"('{group_of[label]}' and '{group}'); each label needs one group."
            )
