import pytest

from hnet_diag.metrics import canonical_name, split_stage


@pytest.mark.parametrize(
    "tag,expected",
    [
        ("train/loss", "loss"),
        ("train_loss", "loss"),
        ("val/loss", "val_loss"),
        ("eval_loss", "val_loss"),
        ("gradient_norm", "grad_norm"),
        ("train/grad_norm/stage1", "grad_norm/stage1"),
        ("learning_rate", "lr"),
        ("lr-AdamW", "lr"),
        ("lr-SGD", "lr"),  # Lightning's LearningRateMonitor names the optimizer
        ("lr-AdamW/pg1", "lr"),  # ... and numbers param groups from 1 (dnabert_lightning_v1)
        ("lr-AdamW/pg2", "lr-AdamW/pg2"),  # a second param group is no H-Net stage
        ("lr/group_2", "lr/stage2"),
        ("ratio_loss/stage0", "ratio_loss/stage0"),
    ],
)
def test_common_tags_map_to_canonical_names(tag, expected):
    assert canonical_name(tag) == expected


def test_unknown_and_lookalike_tags_keep_their_own_name():
    assert canonical_name("loss_scale") == "loss_scale"
    assert canonical_name("my/custom_metric") == "my/custom_metric"


def test_split_stage_separates_family_and_index():
    assert split_stage("lr/stage2") == ("lr", 2)
    assert split_stage("loss") == ("loss", None)


@pytest.mark.parametrize("split", ["val", "valid", "validation", "eval"])
def test_tags_of_a_validation_writer_folder_map_to_validation_metrics(split):
    # the TensorBoard reader prefixes tags of a val/ (valid/, validation/, eval/) writer folder
    assert canonical_name(f"{split}/loss") == "val_loss"
    assert canonical_name(f"{split}/bpb") == "val_bpb"
    assert canonical_name("train/bpb") == "bpb"
