"""Tests of the training stage's checkpoints (the whole stage is run in
test_pipeline.py)."""

import pytest
import torch

from dietnet_cli.errors import DietnetError
from dietnet_cli.train import CHECKPOINT_FORMAT, _load_checkpoint


def run_key(**changes):
    key = {"checkpoint_format": CHECKPOINT_FORMAT, "dataset_checksum": "abc"}
    return {**key, **changes}


class TestCheckpoint:
    def test_same_run_resumes(self, tmp_path):
        path = tmp_path / "model.dietnet.checkpoint"
        torch.save({"run_key": repr(run_key()), "state": {"epoch": 3}}, path)
        assert _load_checkpoint(path, run_key())["epoch"] == 3

    def test_other_options_are_refused(self, tmp_path):
        path = tmp_path / "model.dietnet.checkpoint"
        torch.save(
            {"run_key": repr(run_key(dataset_checksum="def")), "state": {}}, path
        )
        with pytest.raises(DietnetError, match="other data or options"):
            _load_checkpoint(path, run_key())

    def test_an_older_version_is_refused(self, tmp_path):
        # before format 2 the shrinkage was a parameter: its optimizer state
        # would not load into today's optimizer
        path = tmp_path / "model.dietnet.checkpoint"
        old_key = {"dataset_checksum": "abc"}
        torch.save({"run_key": repr(old_key), "state": {}}, path)
        with pytest.raises(DietnetError, match="another version of dietnet"):
            _load_checkpoint(path, run_key())
