"""The label file: which column names the sample, the label and the group."""

from __future__ import annotations

import pytest

from dietnet_cli.errors import InputError
from dietnet_cli.labels import read_labels


def write(tmp_path, text: str, name: str = "labels.tsv"):
    path = tmp_path / name
    path.write_text(text.replace("|", "\t"))
    return path


class TestSampleColumn:
    @pytest.mark.parametrize("column", ["sample", "sample_id", "IID"])
    def test_named_column(self, tmp_path, column):
        path = write(tmp_path, f"FID|{column}|pop\nf1|A|GBR\nf2|B|YRI\n")
        labels = read_labels(path)
        assert labels.sample_id == ("A", "B")
        assert labels.label == ("GBR", "YRI")

    def test_first_column_otherwise(self, tmp_path):
        path = write(tmp_path, "id|pop\nA|GBR\nB|YRI\n")
        assert read_labels(path).sample_id == ("A", "B")

    def test_sample_preferred_to_iid(self, tmp_path):
        path = write(tmp_path, "IID|sample|pop\nx1|A|GBR\n")
        assert read_labels(path).sample_id == ("A",)

    def test_thousand_genomes_panel(self, tmp_path):
        path = write(
            tmp_path,
            "sample|pop|super_pop|gender\nHG00096|GBR|EUR|male\nNA18486|YRI|AFR|male\n",
        )
        labels = read_labels(path)
        assert labels.as_dict() == {"HG00096": "GBR", "NA18486": "YRI"}
        assert labels.group == ("EUR", "AFR")
        assert labels.group_column == "super_pop"


class TestLabelColumn:
    def test_chosen_column(self, tmp_path):
        path = write(tmp_path, "sample|pop|super_pop\nA|GBR|EUR\nB|YRI|AFR\n")
        labels = read_labels(path, label_column="super_pop", group_column=None)
        assert labels.label == ("EUR", "AFR")
        assert labels.label_column == "super_pop"

    @pytest.mark.parametrize("missing", ["", "NA", ".", "nan"])
    def test_missing_values_left_out(self, tmp_path, missing):
        path = write(tmp_path, f"sample|pop\nA|GBR\nB|{missing}\nC|YRI\n")
        labels = read_labels(path)
        assert labels.sample_id == ("A", "C")
        assert labels.num_unlabelled == 1

    def test_no_sample_labelled(self, tmp_path):
        path = write(tmp_path, "sample|pop|super_pop\nA|NA|EUR\nB||AFR\n")
        with pytest.raises(InputError, match=r"no value in column 'pop' for any"):
            read_labels(path)

    def test_byte_order_mark(self, tmp_path):
        path = tmp_path / "labels.tsv"
        path.write_bytes("\ufeffpop\tsample\nGBR\tA\n".encode())
        assert read_labels(path).as_dict() == {"A": "GBR"}

    def test_comments_blank_lines_and_spaces(self, tmp_path):
        path = write(tmp_path, "# made by hand\nsample|pop\n A | GBR \n\nB|YRI\n")
        assert read_labels(path).as_dict() == {"A": "GBR", "B": "YRI"}

    def test_windows_line_ends(self, tmp_path):
        path = tmp_path / "labels.tsv"
        path.write_bytes(b"sample\tpop\r\nA\tGBR\r\nB\tYRI\r\n")
        assert read_labels(path).as_dict() == {"A": "GBR", "B": "YRI"}

    def test_no_pop_column(self, tmp_path):
        path = write(tmp_path, "sample|population\nA|GBR\n")
        with pytest.raises(InputError, match=r"no 'pop' column; name the label col"):
            read_labels(path)

    def test_unknown_label_column(self, tmp_path):
        path = write(tmp_path, "sample|pop\nA|GBR\n")
        with pytest.raises(InputError, match=r"no column 'ancestry'; columns are"):
            read_labels(path, label_column="ancestry")


class TestGroupColumn:
    def test_no_group_without_column(self, tmp_path):
        labels = read_labels(write(tmp_path, "sample|pop\nA|GBR\n"))
        assert labels.group is None
        assert labels.group_of() == {}

    def test_chosen_group_column(self, tmp_path):
        path = write(tmp_path, "sample|pop|region\nA|GBR|EUR\nB|TSI|EUR\n")
        labels = read_labels(path, group_column="region")
        assert labels.group_of() == {"GBR": "EUR", "TSI": "EUR"}

    def test_unknown_group_column(self, tmp_path):
        path = write(tmp_path, "sample|pop\nA|GBR\n")
        with pytest.raises(InputError, match=r"no column 'region'"):
            read_labels(path, group_column="region")

    def test_label_in_two_groups(self, tmp_path):
        path = write(tmp_path, "sample|pop|super_pop\nA|GBR|EUR\nB|GBR|AFR\n")
        with pytest.raises(InputError, match=r"puts label 'GBR' in two groups"):
            read_labels(path)


class TestBadFiles:
    def test_missing_file(self, tmp_path):
        with pytest.raises(InputError, match=r"nothere.tsv does not exist"):
            read_labels(tmp_path / "nothere.tsv")

    def test_not_text(self, tmp_path):
        path = tmp_path / "labels.tsv"
        path.write_bytes(b"\xff\xfe\x81\x00" * 50)
        with pytest.raises(InputError, match=r"Cannot read label file"):
            read_labels(path)

    @pytest.mark.parametrize("text", ["", "sample|pop\n", "# only a comment\n"])
    def test_no_samples(self, tmp_path, text):
        with pytest.raises(InputError, match=r"has no samples"):
            read_labels(write(tmp_path, text))

    def test_comma_separated(self, tmp_path):
        path = write(tmp_path, "sample,pop\nA,GBR\n")
        with pytest.raises(InputError, match=r"single column; it must be tab-sep"):
            read_labels(path)

    def test_short_line(self, tmp_path):
        path = write(tmp_path, "sample|pop|super_pop\nA|GBR|EUR\nB\n")
        with pytest.raises(InputError, match=r"line 3 has 1 columns"):
            read_labels(path)

    def test_duplicate_sample(self, tmp_path):
        path = write(tmp_path, "sample|pop\nA|GBR\nB|YRI\nA|GBR\n")
        with pytest.raises(InputError, match=r"lists sample 'A' twice \(lines 2 and 4"):
            read_labels(path)
