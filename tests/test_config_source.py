import json

import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError
from hnet_diag.run import CheckpointSummary
from hnet_diag.sources.config import read
from hnet_diag.sources.run_settings import describe_layout, settings_from_configs

HNET_2STAGE_XL = {
    "arch_layout": ["m4", ["T1m4", ["T27"], "m4T1"], "m4"],
    "d_model": [1024, 1536, 2048],
    "d_intermediate": [0, 4096, 5504],
    "vocab_size": 256,
    "ssm_cfg": {"chunk_size": 256, "d_conv": 4, "d_state": 128, "expand": 2},
    "attn_cfg": {"num_heads": [16, 16, 16], "rotary_emb_dim": [32, 48, 64], "window_size": [1023, 1023, -1]},
    "tie_embeddings": False,
}
TRAINER_TRAINING = {
    "learning_rate": 6.25e-4, "lr_multipliers": [3.0, 1.7, 0.9], "warmup_steps": 20, "max_steps": 1000,
    "schedule": "wsd", "decay_fraction": 0.2, "max_grad_norm": 1.0, "batch_size": 8, "seq_len": 512,
    "weight_decay": 0.1, "ratio_loss_weight": 0.03, "target_compression": [3, 3], "stop_at_step": 400,
    "seed": 0, "eval_every": 50, "save_every": 100,
}


def _settings(tmp_path, files, checkpoints=()):
    configs = {}
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        data = read(path)
        if data is not None:
            configs[name] = data.configs[str(path)]
    return settings_from_configs(configs, list(checkpoints))


def test_reference_trainer_config_fills_every_training_field_and_the_2stage_architecture(tmp_path):
    training, model, generation = _settings(tmp_path, {"config.json": {"model": HNET_2STAGE_XL, "training": TRAINER_TRAINING}})
    assert training.learning_rate == 6.25e-4 and training.lr_multipliers == (3.0, 1.7, 0.9)
    assert (training.warmup_steps, training.max_steps, training.stop_at_step) == (20, 1000, 400)
    assert (training.schedule, training.decay_fraction, training.max_grad_norm) == ("wsd", 0.2, 1.0)
    assert (training.batch_size, training.seq_len, training.weight_decay) == (8, 512, 0.1)
    assert training.ratio_loss_weight == 0.03 and training.target_compression == (3.0, 3.0)
    assert training.source == "config.json"
    assert model.num_stages == 2 and model.d_model == (1024, 1536, 2048) and model.vocab_size == 256
    assert model.attn_window_size == (1023, 1023, -1) and model.source == "config.json"
    outer, middle, inner = model.stage_layers
    assert outer["encoder"] == {"layout": "m4", "mamba": 4, "attention": 0, "layers": 4, "mlp_layers": 0}
    assert middle["encoder"] == {"layout": "T1m4", "mamba": 4, "attention": 1, "layers": 5, "mlp_layers": 1}
    assert middle["decoder"]["layout"] == "m4T1" and middle["main"] is None
    assert inner["main"] == {"layout": "T27", "mamba": 0, "attention": 27, "layers": 27, "mlp_layers": 27}
    assert inner["encoder"] is None and inner["d_model"] == 2048
    assert generation is None


@pytest.mark.parametrize(
    "layout, d_model, stages",
    [(["T6"], [512], 0), (["m4", ["T22"], "m4"], [1024, 1536], 1), (["m4", ["T1m4", ["T26"], "m4T1"], "m4"], [1024, 1024, 1536], 2)],
)
def test_number_of_stages_comes_from_the_nesting_of_arch_layout(tmp_path, layout, d_model, stages):
    _, model, _ = _settings(tmp_path, {"hnet.json": {"arch_layout": layout, "d_model": d_model, "vocab_size": 256}})
    assert model.num_stages == stages == len(d_model) - 1
    assert len(model.stage_layers) == stages + 1


def test_uppercase_layers_have_no_mlp_when_d_intermediate_is_zero():
    _, levels = describe_layout(["M2", ["T3"], "m2"], d_intermediate=[0, 64])
    assert levels[0]["encoder"]["mlp_layers"] == 0 and levels[1]["main"]["mlp_layers"] == 3


@pytest.mark.parametrize("layout", [["m4", ["T22"]], ["m4", "T22", "m4"], ["x4"], ["m4", ["T2"], "m"]])
def test_malformed_arch_layout_is_an_error_naming_the_file(tmp_path, layout):
    (tmp_path / "config.json").write_text(json.dumps({"arch_layout": layout, "d_model": [8, 8]}))
    with pytest.raises(InputError) as err:
        read(tmp_path / "config.json")
    assert str(tmp_path / "config.json") in str(err.value) and "arch_layout" in str(err.value)


def test_malformed_json_and_yaml_errors_name_the_file_and_line(tmp_path):
    (tmp_path / "config.json").write_text('{\n  "lr": 0.1,\n  "warmup": 5\n  "x": 1\n}')
    with pytest.raises(InputError, match=r"config\.json: malformed JSON \(line 4"):
        read(tmp_path / "config.json")
    (tmp_path / "hparams.yaml").write_text("lr: 0.1\nwarmup: [1, 2\nx: 3\n")
    with pytest.raises(InputError, match=r"hparams\.yaml: malformed YAML \(line \d+") as err:
        read(tmp_path / "hparams.yaml")
    assert "\n" not in str(err.value)


def test_json_that_is_no_config_is_skipped_but_a_config_named_list_is_an_error(tmp_path):
    (tmp_path / "results.json").write_text("[1, 2, 3]")
    (tmp_path / "eval.json").write_text(json.dumps({"step": 100, "val_loss": 2.3, "lr": 1e-4}))
    (tmp_path / "tokenizer.json").write_text(json.dumps({"version": "1.0", "added_tokens": []}))
    assert read(tmp_path / "results.json") is None
    assert read(tmp_path / "eval.json") is None
    assert read(tmp_path / "tokenizer.json") is None
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a mapping"):
        read(tmp_path / "config.json")


def test_argparse_namespace_text_in_args_txt_is_read_through_load_run(tmp_path):
    (tmp_path / "args.txt").write_text(
        "Namespace(batch_size=32, block_size=1024, device=device(type='cuda'), grad_clip=1.0, "
        "learning_rate=0.0006, lr_multipliers='2.0,1.5,1.0', max_iters=5000, name='run, one', warmup_iters=200)\n")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    run = load_run(tmp_path)
    t = run.training
    assert (t.batch_size, t.seq_len, t.max_grad_norm, t.learning_rate) == (32, 1024, 1.0, 6e-4)
    assert (t.max_steps, t.warmup_steps, t.lr_multipliers) == (5000, 200, (2.0, 1.5, 1.0))
    assert run.configs["args.txt"]["name"] == "run, one" and t.source == "args.txt"


def test_command_line_and_key_value_argument_dumps(tmp_path):
    training, _, _ = _settings(tmp_path, {"run.args": "python train.py --lr 3e-4 --warmup-steps 100 --batch-size=16 --compile"})
    assert (training.learning_rate, training.warmup_steps, training.batch_size) == (3e-4, 100, 16)
    training, _, _ = _settings(tmp_path, {"hparams.txt": "# run 3\nlr: 0.001\nmax_steps = 800\nschedule: cosine\n"})
    assert (training.learning_rate, training.max_steps, training.schedule) == (1e-3, 800, "cosine")


def test_lightning_hparams_yaml_with_python_tags_is_read_as_data_without_constructing_objects(tmp_path):
    (tmp_path / "hparams.yaml").write_text(
        "args: !!python/object:argparse.Namespace\n  lr: 3.0e-4\n  max_steps: 2000\n"
        "betas: !!python/tuple\n- 0.9\n- 0.95\n"
        "trainer: !!python/name:os.system ''\n"
        "gradient_clip_val: 0.5\nwarmup_steps: '50'\n")
    configs = read(tmp_path / "hparams.yaml").configs
    cfg = next(iter(configs.values()))
    assert cfg["betas"] == [0.9, 0.95] and isinstance(cfg["args"], dict)
    training, _, _ = settings_from_configs({"hparams.yaml": cfg}, [])
    assert (training.learning_rate, training.max_steps, training.max_grad_norm, training.warmup_steps) == (3e-4, 2000, 0.5, 50)


def test_hugging_face_training_args_warmup_ratio_and_trainer_state_steps(tmp_path):
    files = {
        "training_args.json": {"learning_rate": 5e-5, "warmup_ratio": 0.1, "warmup_steps": 0, "max_steps": -1,
                               "lr_scheduler_type": "cosine_with_min_lr", "max_grad_norm": 1.0,
                               "per_device_train_batch_size": 4, "weight_decay": 0.0},
        "config.json": {"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "vocab_size": 50257,
                        "temperature": 0.7, "top_k": 50, "max_length": 20},
    }
    (tmp_path / "trainer_state.json").write_text(json.dumps({"max_steps": 3000, "global_step": 3000, "log_history": [{"step": 10, "loss": 3.0}]}))
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    run = load_run(tmp_path)
    t = run.training
    assert (t.max_steps, t.warmup_steps, t.schedule, t.batch_size) == (3000, 300, "cosine", 4)
    assert run.model.num_stages == 0 and run.model.d_model == (768,) and run.model.vocab_size == 50257
    assert run.generation is None  # sampling defaults inside a model config are not generation settings


def test_nested_sections_aliases_and_comma_separated_lists(tmp_path):
    yaml_text = (
        "optimizer:\n  name: adamw\n  lr: 3e-4\n  weight_decay: 0.05\n"  # YAML reads 3e-4 as a string
        "scheduler:\n  name: WarmupStableDecay\n  warmup_iters: 500\n  total_steps: 10000\n  cooldown_fraction: 0.2\n"
        "training:\n  clip_grad: 0.25\n  lr_mult: '2.0, 1.5, 1.0'\n  target_ratio: 3,3\n  load_balancing_weight: 0.03\n"
        "data:\n  sequence_length: 8192\n  global_batch_size: 256\n"
        "model:\n  arch_layout: ['m4', ['T1m4', ['T26'], 'm4T1'], 'm4']\n  d_model: [1024, 1024, 1536]\n"
        "  learning_rate: 99.0\n"  # a model section is never read for training keys
    )
    training, model, _ = _settings(tmp_path, {"train.yaml": yaml_text})
    assert training.learning_rate == 3e-4 and training.weight_decay == 0.05
    assert (training.schedule, training.warmup_steps, training.max_steps, training.decay_fraction) == ("wsd", 500, 10000, 0.2)
    assert training.max_grad_norm == 0.25 and training.lr_multipliers == (2.0, 1.5, 1.0)
    assert training.target_compression == (3.0, 3.0) and training.ratio_loss_weight == 0.03
    assert (training.seq_len, training.batch_size) == (8192, 256)
    assert model.num_stages == 2


def test_run_config_wins_over_checkpoint_config_which_fills_the_gaps(tmp_path):
    ckpt_config = {"model": HNET_2STAGE_XL, "training": {"learning_rate": 1.0, "max_steps": 5000, "warmup_steps": 7}}
    old = CheckpointSummary(path="ckpt/step_10.pt", step=10, config={"training": {"warmup_steps": 3, "seq_len": 64}})
    new = CheckpointSummary(path="ckpt/step_20.pt", step=20, config=ckpt_config,
                            param_groups=({"stage": "stage1", "lr_multiplier": 1.5}, {"stage": "stage0", "lr_multiplier": 2.5},
                                          {"stage": "stage2", "lr_multiplier": 1.0}))
    training, model, _ = _settings(tmp_path, {"config.json": {"training": {"learning_rate": 1e-3}}}, [old, new])
    assert training.learning_rate == 1e-3  # the run's own config wins
    assert training.max_steps == 5000 and training.warmup_steps == 7  # newest checkpoint before older
    assert training.seq_len == 64  # only the old checkpoint says it
    assert training.lr_multipliers == (2.5, 1.5, 1.0)  # from param groups, ordered by their stage
    assert training.source == "config.json + ckpt/step_20.pt + ckpt/step_10.pt"
    assert model.num_stages == 2 and model.source == "ckpt/step_20.pt"


def test_scheduler_state_in_a_checkpoint_gives_the_schedule_when_no_config_does(tmp_path):
    ckpt = CheckpointSummary(path="step_6.pt", step=6, scheduler={"kind": "wsd", "warmup_steps": 1, "max_steps": 6,
                                                                  "last_epoch": 6, "base_lrs": [0.002]})
    training, _, _ = settings_from_configs({}, [ckpt])
    assert (training.schedule, training.warmup_steps, training.max_steps, training.source) == ("wsd", 1, 6, "step_6.pt")


def test_generation_settings_come_from_generation_files_and_sections(tmp_path):
    gen = {"checkpoint": "checkpoints/step_000100.pt", "prompt": "The", "temperature": 1.3, "top_p": 0.99,
           "top_k": 0, "repetition_penalty": 1.0, "max_new_tokens": 200, "output": "..."}
    _, _, generation = _settings(tmp_path, {"generation.json": gen})
    assert (generation.temperature, generation.top_p, generation.top_k) == (1.3, 0.99, 0)
    assert (generation.repetition_penalty, generation.max_new_tokens, generation.source) == (1.0, 200, "generation.json")

    _, _, generation = _settings(tmp_path / "hf", {"generation_config.json": {"do_sample": False, "temperature": 0.6, "max_length": 64}})
    assert generation.temperature == 0.0 and generation.max_new_tokens == 64  # greedy

    _, _, generation = _settings(tmp_path / "sec", {"config.yaml": "lr: 0.1\ngeneration:\n  temp: 0.8\n  top_p: 0.9\n"})
    assert (generation.temperature, generation.top_p, generation.source) == (0.8, 0.9, "config.yaml")


def test_wandb_config_yaml_values_are_unwrapped(tmp_path):
    text = ("_wandb:\n  desc: null\n  value:\n    cli_version: 0.16.0\n"
            "lr:\n  desc: null\n  value: 0.0006\nwarmup_steps:\n  desc: null\n  value: 100\n")
    training, _, _ = _settings(tmp_path, {"config.yaml": text})
    assert training.learning_rate == 6e-4 and training.warmup_steps == 100


def test_nothing_stated_gives_empty_settings_and_no_generation():
    training, model, generation = settings_from_configs({}, [])
    assert training.learning_rate is None and training.source is None
    assert model.num_stages is None and generation is None
