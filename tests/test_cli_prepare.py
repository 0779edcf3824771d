"""``dietnet prepare`` on the command line: options reach the library
(CliRunner, library mocked), and real runs exit, print and clean up as a
user sees it (subprocesses)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from dietnet_cli import cli, dataset, vcf
from dietnet_cli import prepare as prepare_module
from dietnet_cli.cli import app
from dietnet_cli.variantfilter import Filters

from .conftest import (
    make_cohort,
    polymorphic,
    run_dietnet,
    run_tool,
    write_labels,
    write_vcf,
)


@pytest.fixture
def calls(monkeypatch):
    """Replace the library's prepare; collect the keyword arguments."""
    seen = []

    def fake_prepare(input_path, **options):
        seen.append(SimpleNamespace(input_path=input_path, **options))
        return SimpleNamespace(num_samples=3, num_variants=7)

    monkeypatch.setattr(prepare_module, "prepare", fake_prepare)
    return seen


@pytest.fixture
def inputs(tmp_path, cohort):
    cohort = polymorphic(cohort)
    return SimpleNamespace(
        cohort=cohort,
        vcf=write_vcf(tmp_path / "in.vcf", cohort),
        labels=write_labels(tmp_path / "labels.tsv", cohort),
        out=tmp_path / "ds",
    )


class TestOptions:
    runner = CliRunner()

    def test_defaults(self, calls, inputs):
        result = self.runner.invoke(
            app, ["prepare", str(inputs.vcf), "-l", str(inputs.labels), "-o", "ds"]
        )
        assert result.exit_code == 0, result.output
        (call,) = calls
        assert call.input_path == str(inputs.vcf)
        assert call.labels_path == inputs.labels
        assert call.out == Path("ds")
        assert call.filters == Filters()
        assert (call.threads, call.force, call.show_progress) == (1, False, True)
        assert call.build is None
        assert call.label_column is None
        assert call.group_column is None

    def test_every_option(self, calls, inputs, tmp_path):
        listed = tmp_path / "variants.txt"
        listed.write_text("1:100\n")
        result = self.runner.invoke(
            app,
            [
                "prepare",
                "-",
                "--labels",
                str(inputs.labels),
                "--out",
                "ds",
                "--maf",
                "0.05",
                "--max-missing",
                "0.2",
                "--regions",
                "1,2:1-5000000,",
                "--variants",
                str(listed),
                "--all-contigs",
                "--build",
                "hg19",
                "--threads",
                "3",
                "--force",
                "--no-progress",
                "--label-column",
                "super_pop",
                "--group-column",
                "gender",
                "-q",
            ],
        )
        assert result.exit_code == 0, result.output
        (call,) = calls
        assert call.input_path == "-"
        assert call.filters == Filters(
            maf=0.05,
            max_missing=0.2,
            all_contigs=True,
            regions=("1", "2:1-5000000"),
            variants_file=str(listed),
        )
        assert (call.build, call.threads, call.force) == ("hg19", 3, True)
        assert call.show_progress is False
        assert (call.label_column, call.group_column) == ("super_pop", "gender")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--maf", "0.6"], r"--maf"),
            (["--max-missing", "-0.1"], r"--max-missing"),
            (["--threads", "0"], r"--threads"),
            (["--variants", "nothere.txt"], r"--variants"),
        ],
    )
    def test_bad_option_values(self, calls, inputs, args, message):
        result = self.runner.invoke(
            app,
            ["prepare", str(inputs.vcf), "-l", str(inputs.labels), "-o", "ds", *args],
        )
        assert result.exit_code == 2
        assert message in result.output
        assert not calls

    def test_labels_must_exist(self, calls, inputs, tmp_path):
        result = self.runner.invoke(
            app,
            ["prepare", str(inputs.vcf), "-l", str(tmp_path / "no.tsv"), "-o", "ds"],
        )
        assert result.exit_code == 2
        assert "does not exist" in result.output
        assert not calls

    def test_help(self):
        result = self.runner.invoke(app, ["prepare", "--help"])
        assert result.exit_code == 0
        for option in ("--labels", "--maf", "--regions", "--variants", "--threads"):
            assert option in result.output
        assert "Read genotypes and labels into a dataset directory." in result.output


class TestEntryPoints:
    def test_module_help(self):
        result = run_dietnet("--help")
        assert result.returncode == 0
        assert "prepare" in result.stdout

    def test_console_script_help(self):
        script = Path(sys.executable).with_name("dietnet")
        if not script.exists():
            pytest.skip("the dietnet console script is not installed in this env")
        result = subprocess.run(
            [str(script), "--help"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0
        assert "prepare" in result.stdout


class TestRuns:
    def test_success(self, inputs):
        result = run_dietnet(
            "prepare",
            str(inputs.vcf),
            "-l",
            str(inputs.labels),
            "-o",
            str(inputs.out),
            "--no-progress",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert "Wrote dataset" in result.stderr
        opened = dataset.open_dataset(inputs.out)
        np.testing.assert_array_equal(opened.genotypes, inputs.cohort.dosage)
        assert opened.manifest["command_line"][1] == "prepare"

    @pytest.mark.parametrize("compressed", [False, True], ids=["vcf", "bgzip"])
    def test_standard_input(self, inputs, tmp_path, compressed):
        source = inputs.vcf
        if compressed:
            source = tmp_path / "in.vcf.gz"
            run_tool("bcftools", "view", "-Oz", "-o", str(source), str(inputs.vcf))
        # Labels for all samples but the last, in another order, plus one
        # the input does not have: the reader must subset the stream.
        samples = ("Z9", *reversed(inputs.cohort.sample_id[:-1]))
        labels = write_labels(tmp_path / "subset.tsv", inputs.cohort, samples=samples)
        command = (
            f"cat {source} | {sys.executable} -m dietnet_cli prepare - "
            f"-l {labels} -o {inputs.out} --no-progress"
        )
        result = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        opened = dataset.open_dataset(inputs.out)
        np.testing.assert_array_equal(opened.genotypes, inputs.cohort.dosage[:-1])
        assert opened.sample_id == inputs.cohort.sample_id[:-1]
        assert opened.manifest["samples_dropped"]["input_only"] == 1
        assert opened.manifest["samples_dropped"]["labels_only"] == 1
        assert opened.manifest["inputs"]["genotypes"]["path"] == "-"


def break_input(inputs, tmp_path, case: str) -> tuple[list[str], str]:
    """Arguments for one bad run and the message its error line must hold."""
    args = [str(inputs.vcf), "-l", str(inputs.labels), "-o", str(inputs.out)]
    if case == "missing-input":
        args[0] = str(tmp_path / "nothere.vcf")
        return args, "nothere.vcf does not exist"
    if case == "not-a-vcf":
        inputs.vcf.write_text("this is not a VCF\n")
        return args, "is not a readable VCF or BCF file"
    if case == "truncated-bgzf":
        packed = tmp_path / "in.vcf.gz"
        run_tool("bcftools", "view", "-Oz", "-o", str(packed), str(inputs.vcf))
        packed.write_bytes(packed.read_bytes()[:-28])
        args[0] = str(packed)
        return args, "is truncated"
    if case == "duplicate-labels":
        text = inputs.labels.read_text()
        inputs.labels.write_text(text + text.splitlines()[1] + "\n")
        return args, "lists sample 'S00' twice"
    if case == "no-shared-sample":
        inputs.labels.write_text(inputs.labels.read_text().replace("\nS", "\nX"))
        return args, "No sample of"
    if case == "no-variant-left":
        listed = tmp_path / "variants.txt"
        listed.write_text("rs99999\n")
        return [*args, "--variants", str(listed)], "is left after filtering"
    if case == "regions-without-index":
        return [*args, "--regions", "1"], "--regions needs an indexed input"
    if case == "output-is-a-file":
        inputs.out.write_text("")
        return [*args, "--force"], "a file of that name is in the way"
    if case == "output-exists":
        inputs.out.mkdir()
        return args, "already exists; choose another path or pass --force"
    raise AssertionError(case)


class TestErrors:
    @pytest.mark.parametrize(
        "case",
        [
            "missing-input",
            "not-a-vcf",
            "truncated-bgzf",
            "duplicate-labels",
            "no-shared-sample",
            "no-variant-left",
            "regions-without-index",
            "output-exists",
            "output-is-a-file",
        ],
    )
    def test_one_error_line(self, inputs, tmp_path, case):
        args, message = break_input(inputs, tmp_path, case)
        existed = inputs.out.exists()
        result = run_dietnet("prepare", *args, "--no-progress")
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        errors = [line for line in lines if line.startswith("Error: ")]
        assert len(errors) == 1, result.stderr
        assert message in errors[0]
        assert "Traceback" not in result.stderr
        assert "[E::" not in result.stderr
        assert "[W::" not in result.stderr
        assert result.stdout == ""
        assert inputs.out.exists() == existed
        assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]

    def test_error_in_a_worker_process(self, tmp_path, monkeypatch, capsys):
        # A bgzipped VCF read in spans (thresholds lowered, so in-process)
        # with a bad record in the last span, read by a worker process.
        monkeypatch.setattr(vcf, "SPAN_BYTES", 1)
        monkeypatch.setattr(vcf, "SPAN_HEAD_START", 0)
        cohort = make_cohort(13, 3000)
        lines = write_vcf(tmp_path / "in.vcf", cohort).read_text().splitlines()
        lines[-3] = lines[-3].rsplit("\t", 1)[0]  # one sample column short
        (tmp_path / "in.vcf").write_text("\n".join(lines) + "\n")
        run_tool("bgzip", str(tmp_path / "in.vcf"))
        labels = write_labels(tmp_path / "labels.tsv", cohort)
        out = tmp_path / "ds"
        args = ["dietnet", "prepare", str(tmp_path / "in.vcf.gz"), "-l", str(labels)]
        args += ["-o", str(out), "--threads", "3", "--no-progress"]
        monkeypatch.setattr(sys, "argv", args)
        # malloc's settings would last for the rest of the tests
        monkeypatch.setattr(cli.allocator, "keep_freed_memory", lambda: True)
        with pytest.raises(SystemExit) as exited:
            cli.main()  # the console script, in this process
        assert exited.value.code == 1
        stderr = capsys.readouterr().err
        errors = [line for line in stderr.splitlines() if "Error" in line]
        assert len(errors) == 1, stderr
        assert errors[0].startswith("Error: Input file")
        assert "in.vcf.gz is damaged or malformed" in errors[0]
        assert not out.exists()
        assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]

    def test_ctrl_c_exits_130(self, inputs, monkeypatch, capsys):
        def interrupt(*_args, **_kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(prepare_module, "prepare", interrupt)
        args = ["dietnet", "prepare", str(inputs.vcf), "-l", str(inputs.labels)]
        monkeypatch.setattr(sys, "argv", [*args, "-o", str(inputs.out)])
        monkeypatch.setattr(cli.allocator, "keep_freed_memory", lambda: True)
        with pytest.raises(SystemExit) as exited:
            cli.main()
        assert exited.value.code == 130
        assert capsys.readouterr().err.strip().endswith("Interrupted.")

    def test_termination_signal_cleans_up(self, inputs, monkeypatch, capsys):
        # SIGTERM, as a pipeline manager sends when it cancels a job, in the
        # middle of reading: the partial dataset is removed, status 143.
        consume = prepare_module._consume

        def terminated(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            return consume(*args, **kwargs)

        monkeypatch.setattr(prepare_module, "_consume", terminated)
        args = ["dietnet", "prepare", str(inputs.vcf), "-l", str(inputs.labels)]
        monkeypatch.setattr(sys, "argv", [*args, "-o", str(inputs.out)])
        monkeypatch.setattr(cli.allocator, "keep_freed_memory", lambda: True)
        handler = signal.getsignal(signal.SIGTERM)
        with pytest.raises(SystemExit) as exited:
            cli.main()
        assert exited.value.code == 143
        assert capsys.readouterr().err.strip().endswith("Terminated.")
        assert not inputs.out.exists()
        assert not [p for p in inputs.out.parent.iterdir() if ".partial-" in p.name]
        assert signal.getsignal(signal.SIGTERM) is handler  # put back

    def test_a_dropped_termination_still_ends_143(self, monkeypatch, capsys):
        # Where the exception the signal raises is dropped (an at-fork hook
        # or a finalizer drops exceptions), the command ends as terminated.
        def command(standalone_mode):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except KeyboardInterrupt:
                pass
            return 0

        monkeypatch.setattr(cli, "app", command)
        monkeypatch.setattr(cli.allocator, "keep_freed_memory", lambda: True)
        with pytest.raises(SystemExit) as exited:
            cli.main()
        assert exited.value.code == 143
        assert capsys.readouterr().err.strip().endswith("Terminated.")

    def test_force_replaces(self, inputs):
        inputs.out.mkdir()
        (inputs.out / "old.txt").write_text("old")
        args = [str(inputs.vcf), "-l", str(inputs.labels), "-o", str(inputs.out)]
        result = run_dietnet("prepare", *args, "--force", "--no-progress")
        assert result.returncode == 0, result.stderr
        assert not (inputs.out / "old.txt").exists()
        assert dataset.open_dataset(inputs.out).num_variants == 20

    def test_stdin_with_regions(self, inputs):
        with open(inputs.vcf) as handle:
            result = run_dietnet(
                "prepare",
                "-",
                "-l",
                str(inputs.labels),
                "-o",
                str(inputs.out),
                "--regions",
                "1",
                stdin=handle,
            )
        assert result.returncode == 1
        assert "Error: --regions needs an indexed input file, and standard input" in (
            result.stderr
        )
        assert not inputs.out.exists()

    def test_stdin_that_is_not_vcf(self, inputs):
        result = subprocess.run(
            [sys.executable, "-m", "dietnet_cli", "prepare", "-", "-l"]
            + [str(inputs.labels), "-o", str(inputs.out), "--no-progress"],
            input="not a vcf\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1].startswith(
            "Error: Input file standard input is not a readable VCF"
        )
        assert not inputs.out.exists()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for a pipe")
def test_shell_pipe_failure_reported(inputs, tmp_path):
    """A pipe that delivers a truncated stream fails with an error line."""
    text = inputs.vcf.read_text()
    half = tmp_path / "half.vcf"
    half.write_text(text[: len(text) // 2])
    command = (
        f"cat {half} | {sys.executable} -m dietnet_cli prepare - "
        f"-l {inputs.labels} -o {inputs.out} --no-progress"
    )
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Error: Input file standard input is damaged or malformed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not inputs.out.exists()
