"""Plain-text training logs: what training scripts print (`train.log`, `nohup.out`, ...).

Many runs leave no event file, only console output. This reader turns the line shapes that
popular trainers print into the same tidy scalars every other source produces:

- nanoGPT: `iter 100: loss 2.3456, time 12.34ms, mfu 5.00%`, `step 500: train loss 1.9, val loss 2.0`
- modded-nanogpt: `step:125/1750 val_loss:4.3 train_time:12345ms step_avg:98.7ms`
- llm.c: `step    1/74 | train loss 4.5 | norm 1.2 | lr 1.0e-04 | 123.4 ms | 12.3% bf16 MFU | 9000 tok/s`,
  its stepless `val loss 3.2` lines and its `-o` log file (`s:100 trl:3.1 lr:... norm:...`)
- build-nanogpt's `log/log.txt`: `<step> train <loss>`, `<step> val <loss>`,
  `<step> hella <accuracy>` (read as `train_loss`, `val_loss`, `hellaswag_acc`)
- Hugging Face Trainer console dicts: `{'loss': 2.3, 'grad_norm': 1.2, 'learning_rate': 2e-05, 'epoch': 0.1}`
- MiniMind's trainers: `Epoch:[1/2](20/4292), loss: 0.66, ..., lr: 0.0001, epoch_time: 9.0min` (the
  `(n/N)` counter counts steps within epoch `e` of `[e/E]`, made global by its epoch as below)
- PyTorch examples' word_language_model: `| epoch 1 |   200/ 2983 batches | lr 20.00 | ms/batch 11.61 |
  loss 5.90 | ppl 365.37` (the in-epoch batch counter is the step, made global by its epoch as
  below; `ms/batch` is `step_time`) and `| end of epoch 1 | time: 35.58s | valid loss 5.70 | ...`
  (the epoch's `val_loss`, at its last logged batch)
- one line per epoch with no step counter: `Epoch [3/150], Loss: 0.40, Accuracy: 84%` (the PyTorch
  tutorials' print) and `[pretrain] epoch 3/40  train=14.9  heldout=13.2  lr=3e-04`: the epoch
  is the step, `E` the planned count; its `key: value` / `key=value` fields count (bare
  `train` / `heldout` are the epoch's `train_loss` / `val_loss`)
- hand-written epoch loops: `Epoch: 2/50 | Batch 100/391 | Loss: 1.2` (the in-epoch batch counter
  made global by its epoch, as below; a later `Current Learning Rate: X` is the LR at the last
  step read), `Epoch 3, loss 0.41, ...`, `Epoch 3 | Train Loss: 0.41 | ... | Val Loss: 0.52`
  (the epoch is the step; the first of a repeated field name counts), `Epoch: 3, Batch: 40, Loss:
  6.1` (no planned count; a `/N` after the batch is batches per epoch, not a plan), and lines
  with no counter at all, `... - Epoch 3 - Batch loss: 0.41`, CS336's `rl_loss: L, time: T,
  l2_norm: G, ...`: the k-th such line is step k
- any `key=value` / `key: value` / `key value` line with a step or iteration counter,
  fields separated by spaces, commas, `;` or `|`
- user patterns: regular expressions with named groups from `[tool.hnet-diag] log-patterns`,
  handed in as `LogOptions` (the caller found the settings: see `hnet_diag.settings_file`);
  a user pattern that matches a line wins over the above.

Rules, chosen so one rule explains every number the reader produces:

- A line counts when it has a step counter (`step`, `iter`, `iteration`, `global_step`,
  as `step 5`, `step:5`, `step=5`, `step 5/100`) and at least one numeric field. Logger
  decorations at the start (timestamps, `INFO`, `INFO:root:`, `[rank0]:`, `file.py:12`) are
  removed first; an ISO timestamp there becomes the record's wall time (read as UTC when
  it has no zone). Fields written `key: value` or `key=value` count anywhere on the line;
  `key value` (a space only, as nanoGPT and llm.c print) counts only on lines that start
  with the counter (and `epoch N` anywhere), so prose such as "in step 5 the loss of 3
  runs" is not a record.
- Keys are kept as printed, with spaces turned into `_` (`train loss` -> `train_loss`), so the
  alias table in `hnet_diag.metrics` maps them (`norm` -> grad_norm, `learning_rate` -> lr).
  A few trainer spellings the alias table cannot know are renamed here: `dt` and a line's
  `time` (nanoGPT's per-iteration time) -> `step_time`; `tok/s`, `tok/sec`, `tokens/s` ->
  `tokens_per_s`; llm.c's `trl`/`tel` -> `train_loss`/`val_loss`.
- Units: a value printed with a time unit (`ms`, `us`, `s`, `min`, `h`) is stored in
  seconds (`12.34ms` -> 0.01234; so modded-nanogpt's `train_time` and `step_avg` are in
  seconds too); `%` values stay in percent (`mfu 5.00%` -> 5.0). `N/M` counters keep N.
- `nan`, `inf`, `-inf` (any case, also `nanms`) become real NaN/Inf.
- The `/M` of a step counter is the planned step count: the last one seen goes to
  `configs[file]["max_steps"]`, where the settings pick it up.
- Hugging Face dicts carry no step. A dict with `loss` is a training record; its step is
  `k * logging_steps` for the k-th training record when `logging_steps` is known (from a
  `logging_steps=N` line in the log, i.e. the printed TrainingArguments, or from
  `logging-steps` in the settings, which wins), else simply k, so steps count logged records.
  `Continuing training from global step N` offsets the count by N. When the log prints
  no `logging_steps` but says the run's size and that it ran to its end (the Trainer's
  `Total optimization steps = M` and `Num Epochs = E`, and the final summary dict at epoch E),
  the interval is the one integer L with `floor(M / L)` = the number of training records
  (the Trainer logs at every multiple of L), and the steps are k * L; with no such single L
  the records are counted. (Seen in a LLaMA-Factory `nohup` log whose records, buffered on
  stdout, all come after the progress bars: 48 records of a 240-step run are steps 5..240.)
  ms-swift writes the
  step and the plan into the record (`'global_step/max_steps': '6/9'`): N is the step and
  M the planned step count, as with a progress bar's `N/M`. A dict with `eval_`
  keys belongs to the step of the preceding training record. The final summary dict
  (`train_runtime`, average `train_loss`, ...) is not a per-step value: it goes to
  `configs[file]["train_summary"]`, never into the loss series.
- Records counted by order (no `logging_steps`, no interval inferred) in a log whose tqdm
  bars (`| N/M [`, on lines of their own) ran past them: the bars date them, in this order.
  (A nested bar, drawn one row up with `ESC[A`, is an evaluation's: it is never the
  training bar.) When each training record on a line of its own follows a bar drawn since
  the previous record, and all those bars count toward one `/M`, a record's step is its
  bar's N (an evaluation dict keeps the step of the record before it). Else, with the
  final summary at epoch E and the training bar N/M standing when it was printed, and an
  epoch on every record, never going back: a record's step is round(epoch x N / E) (a
  run stopped early by a callback ends its bar and its epochs at the same point). Either
  way M is the planned step count, and the count that went back between a bar-glued
  record and the counted ones was no restart. With neither, the records keep their
  ordinal and M is the plan when the last training bar's N is past their count. (Seen in
  consoles whose stdout records came in bunches after stderr's bars: a Gemma LoRA ended
  by early stopping at bar 1600/5560, 160 records at epochs 0.018..2.879 of a summary at
  2.879: steps 10..1600; a TRL DPO run at bar 160/160, summary epoch 1.0: steps 10..160.)
- ANSI colour codes are dropped; a `\\r` (progress-bar redraw) splits a line into its parts.
- When the step counter goes back while the epoch printed on the same line advances
  (`Epoch: 1 step: 0 loss: ...`), the counter counts within an epoch: steps are made
  global by continuing from the previous epoch's last step. Any other going back means the
  log holds another run (a restart or resume): a `restart` RunEvent is recorded there (the
  first 20; more are counted in one warning) and rows stay in file order, so for a step
  logged twice the newest write wins (as `Run.metric` does for TensorBoard).
- A file that begins with a run of NUL bytes (a log truncated while its writer still held it
  open at an offset: the writer's next lines land after a zero-filled hole) is read from the
  first byte after that run; the run itself is no text.
- Not a training log: a file whose first 8 KiB (after such a leading NUL run) hold a NUL byte
  (binary), or in which no
  metric line appears within the first 10,000 lines / 4 MiB. Such files give None and are
  skipped silently, after reading at most that much. The file is read in 1 MiB chunks and
  lines are cut at 64 KiB, so a huge file without newlines cannot exhaust memory.
- Speed: lines that differ only in their numbers parse alike, so each line "skeleton" is
  analysed once and later lines of it are read by one anchored regex (see `_Plan`).
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..run import LoadWarning, RunEvent
from .base import STEP_KEYS, SWIFT_STEP, SWIFT_STEP_KEY, SourceData
from .untrusted import open_regular

MAX_RESTART_EVENTS = 20  # more are counted in one warning, as for TensorBoard
SNIFF_HEAD_BYTES = 8192  # binary check: a NUL byte here means "not a text log"
SNIFF_LINES = 10_000  # no metric line within this many lines ...
SNIFF_BYTES = 4 << 20  # ... or this many bytes: not a training log
MAX_LINE_BYTES = 1 << 16  # longer lines are read in pieces
CHUNK_BYTES = 1 << 20

_NUM = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)"
_UNIT = r"(?:ms|us|µs|sec|s|min|h|%)"
_SECONDS = {"ms": 1e-3, "us": 1e-6, "µs": 1e-6, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_END = r"(?=[\s,;|)}\]]|$)"  # a value must be followed by a separator

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]")
# logger decorations at the start of a line, removed repeatedly
_PREFIX = re.compile(
    r"""(?:\s+
    |\[(?![^\]\n]*(?i:step|iter))[^\]\n]{0,80}\]:?            # [rank0]: [INFO] [2024-01-01 12:00:00]
    |\d{4}-\d\d-\d\d(?:[T\ ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?  # ISO date/time
    |\d\d:\d\d:\d\d(?:[.,]\d+)?                            # time of day
    |[IWEF]\d{4}\ +\d\d:\d\d:\d\d\.\d+\ +\d+\ +[\w.\-]+:\d+\]   # glog / absl
    |(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL):[\w.]+:                    # logging's INFO:root:
    |(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL)\b:?
    |[\w.\-]+\.py:\d+\b:?                                  # train.py:123
    |[\w.<>]+:[\w<>]+:\d+(?=\s)                             # loguru's module:function:line
    |[-|:>]+(?=\s)                                        # " - ", " | ", " > " separators
    )+""",
    re.X,
)
_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?")
_STEP = re.compile(
    # `\s*(?:[:=#]\s*)?`, not `\s*[:=#]?\s*`: two adjacent \s* try every split of a run of
    # spaces, which made "step" + 64 KiB of spaces take 30 s
    rf"(?<![\w./\-])(global[_ ]step|step|iteration|iter)\s*(?:[:=#]\s*)?(\d+)(?:\s*/\s*(\d+))?(?=[\s,;:|)}}\]]|$)",
    re.I,
)
_LLMC_LOGFILE = re.compile(r"s:(\d+)\s")  # llm.c `-o` log: "s:100 trl:3.1 lr:0.0006 norm:1.2"
# build-nanogpt's log/log.txt: "<step> train <loss>", "<step> val <loss>", "<step> hella <acc>"
_NANOGPT_LOGFILE = re.compile(rf"(\d+) (train|val|hella) ({_NUM})\s*$", re.I)
_NANOGPT_LOGFILE_NAMES = {"train": "train_loss", "val": "val_loss", "hella": "hellaswag_acc"}
_QUALIFIER = r"(?:train|training|val|valid|validation|eval|test|grad|gradient|total|mean|avg|average|learning)"
_PAIR = re.compile(
    rf"(?<![\w./\-])((?:{_QUALIFIER}\ )?[A-Za-z][\w./\-]*)(?:\s*([:=])\s*|\s+)({_NUM})({_UNIT})?(?:/\d+)?{_END}",
    re.I,
)
# llm.c prints some fields value first: "| 123.45 ms | 40.1% bf16 MFU | 9000 tok/s"
_VALUE_FIRST = re.compile(rf"(?:^|\|)\s*({_NUM})\s*(ms|s|tok/s|tokens/s|%\s*(?:\w+\s+)?mfu)\s*(?=\||$)", re.I)
_STEPLESS_VAL = re.compile(rf"(?:val|valid|validation)[ _]loss\s*[:=]?\s*({_NUM})\s*$", re.I)
# PyTorch examples' word_language_model: "| epoch 1 |  200/ 2983 batches | lr 20.00 | ms/batch 11.6 |
# loss 5.9 | ppl 365" (the batch counter restarts each epoch) and, once per epoch,
# "| end of epoch 1 | time: 35.6s | valid loss 5.7 | valid ppl 299" (the logger prefix "| " is gone)
_WORDLM_BATCH = re.compile(r"(epoch)\s+(\d+)\s*\|\s*(\d+)\s*/\s*\d+\s+batches\s*\|")
# MiniMind: "Epoch:[e/E](n/N), loss: ..." (n counts steps within epoch e; N per epoch)
_MINIMIND = re.compile(r"epoch:\[(\d+)/\d+\]\((\d+)/(\d+)\),", re.I)
_WORDLM_EPOCH_END = re.compile(rf"end of epoch\s+\d+\s*\|.*?\|\s*valid loss\s+({_NUM})(?=\s*(?:\||$))", re.I)
# one line per epoch, counted by the epoch alone: "Epoch [3/150], Loss: 0.4, Accuracy: 84%" (the
# PyTorch tutorials' print) and "[pretrain] epoch 3/40  train=14.9  heldout=13.2  lr=3e-04"
# (the logger tag is prefix): the epoch is the step and E the planned count
_EPOCH_LINE = re.compile(r"epoch\s*(?:\[\s*(\d+)\s*/\s*(\d+)\s*\]|(\d+)\s*/\s*(\d+))(?=[\s,:;|]|$)", re.I)
# ... whose bare `train` / `heldout` fields are the epoch's training and held-out losses
_EPOCH_LINE_RENAMES = {"train": "train_loss", "heldout": "val_loss"}
# hand-written loops' batch lines "Epoch: 1/99 | Batch 5/11 | Loss: 6.86" (the batch counter
# restarts each epoch; the epoch beside it makes it global) and their once-an-epoch
# "Epoch: 2/99 | Current Learning Rate: 0.001" (the LR from the next batch on)
_EPOCH_BATCH = re.compile(r"epoch:?\s*(\d+)\s*/\s*\d+\s*\|\s*batch\s+(\d+)\s*/\s*\d+\s*(?=\|)", re.I)
_EPOCH_LR = re.compile(rf"epoch:?\s*\d+\s*/\s*\d+\s*\|\s*current learning rate\s*:\s*({_NUM})\s*$", re.I)
# per-epoch lines without the planned count, the epoch being the step: "Epoch 3, loss 0.65,
# train accuracy: 64.00%" (minitorch's log) and "Epoch 03 | train_loss=0.41 train_acc=0.81 |
# val_loss=0.37 ..." / "Epoch 3 | Train Loss: 10.6 | Token Acc: 0.07 | ... | Val Loss: 10.5 | ..."
# (only `key: value` / `key=value` fields, the first of a repeated name)
_EPOCH_COMMA_LOSS = re.compile(rf"epoch\s+(\d+),\s*loss\s+({_NUM})(?=\s*(?:,|$))", re.I)
_EPOCH_PIPE = re.compile(r"epoch\s+(\d+)\s*\|(?=\s*[A-Za-z])", re.I)
# a Python-logging line per logged batch without a counter, "Epoch 3 - Batch loss: 0.52": the
# k-th such line is step k
_EPOCH_BATCH_LOSS = re.compile(rf"epoch\s+\d+\s+-\s+batch loss\s*:\s*({_NUM})\s*$", re.I)
# a hand-written trainer's own progress bar, redrawn at each report: "Training [=====     ] 8.5%
# 5000/58874 | 4.62 it/s | ETA: 11664.8 s | loss=3.91 | validation_loss=3.90" (N/M: step and plan; the
# `key=value` fields after it are the record, when one is a loss: the same trainer's tokenizer bars
# are not). tqdm bars ("45%|####  | 450/1000 [") and Keras's
# ("1875/1875 [=====] - 5s") put the counter elsewhere and do not match
_BRACKET_BAR = re.compile(r"[A-Za-z][\w ]{0,40}?\s*\[[=#>.\- ]*\]\s*\d+(?:\.\d+)?%\s+(\d+)/(\d+)\s*\|")
# hand-written loops' batch lines without the planned epoch count, the batch counter restarting
# each epoch: "Epoch: 3, Batch: 40, Loss: 6.1, Accuracy: 0.1" and "Epoch:  16 | Batch:   920/ 1330 |
# LR: 2.97e-04 |Loss: 4.6" (the "/N" is batches per epoch, not a plan); the in-epoch batch is the
# step, made global by its epoch as above
_EPOCH_BATCH_NO_PLAN = re.compile(r"epoch:\s*(\d+)\s*[,|]\s*batch:\s*(\d+)(?:\s*/\s*\d+)?\s*(?=[,|])", re.I)
# ... the same with "ep:" (Barber0/LLM-pretrain): "ep: 0, batch: 20, time: 9.17, ntokens: 485.20/513, loss: 10.98"
_EP_BATCH_NO_PLAN = re.compile(r"ep:\s*(\d+)\s*,\s*batch:\s*(\d+)\s*(?=,)", re.I)
# the hand-written loops' batch lines above, read alike: group 1 the epoch, group 2 the in-epoch
# batch counter (the step, made global by the epoch), the `key: value` fields after the match
_IN_EPOCH_BATCH_LINES = (_EP_BATCH_NO_PLAN, _EPOCH_BATCH_NO_PLAN, _EPOCH_BATCH)
# a loop that prints "epoch N" on one line and the epoch's mean "loss: L" alone on the next
# (CloneNOX/Bi-LSTM-CN-Language-model; its epoch counter rewinds on resume): the k-th such
# loss line is step k
_BARE_LOSS_LINE = re.compile(rf"loss:\s*({_NUM})\s*$", re.I)
# ... and that loop's epoch-end line in Chinese, "Epoch 16 完成 | 训练损失: 4.61 | 验证损失: 6.01"
# (done | train loss | validation loss): the validation loss at the last step read
_EPOCH_DONE_ZH = re.compile(rf"epoch\s+\d+\s+完成\s*\|.*?验证损失\s*:\s*({_NUM})", re.I)
# a logger line per optimizer step with no counter, "rl_loss: L, time: T, l2_norm: G, ..." (CS336's
# RL loop; l2_norm the gradient norm before clipping): the k-th such line is step k
_RL_LOSS = re.compile(rf"(?<![\w./\-])rl_loss:\s*({_NUM}),\s*time:\s*{_NUM},\s*l2_norm:\s*({_NUM})")
_DICT_PAIR = re.compile(r"""['"]([^'"]+)['"]\s*:\s*(?:'([^']*)'|"([^"]*)"|([^,}]+))""")
_VALUE_UNIT = re.compile(rf"\s*({_NUM})\s*({_UNIT})?\s*$", re.I)
_LOGGING_STEPS = re.compile(r"logging_steps\s*[=:]\s*(\d+)")
_TOTAL_STEPS = re.compile(r"Total optimization steps\s*=\s*([\d,]+)")
_NUM_EPOCHS = re.compile(r"Num Epochs\s*=\s*([\d,]+)")
_TQDM_BAR = re.compile(r"\|\s*(\d+)/(\d+) \[")  # "| 10/4854 [00:16<2:14:42,  1.67s/it]"
_CONTINUING = re.compile(r"Continuing training from global step (\d+)")
# nanoGPT's configurator echoes the config file it runs ("max_iters = 5000") and each command-line
# override ("Overriding: max_iters = 10000"), in that order: the last one is the planned step count
_NANOGPT_MAX_ITERS = re.compile(r"(?:Overriding: )?max_iters = (\d+)\s*$")
# OLMo's trainer prints one record over several lines: a header `[step=N/M,epoch=E]` after the
# logger prefix, then one indented `group/name=value` line per metric
_OLMO_HEADER = re.compile(r"\[step=\d+(?:/\d+)?,epoch=\d+\]\s*$")
_OLMO_FIELD = re.compile(r"\s+([A-Za-z][\w./\-() ]*)=([-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|" + _NUM + r")\s*$")
_NOT_IN_KEY = re.compile(r"[^\w./\-]+")
_OLMO_SNIFF = re.compile(r"\[step=\d+(?:/\d+)?,epoch=\d+\][ \t]*\r?\n[ \t]+[A-Za-z][\w./\-() ]*=[-+\d.,]", re.M)

# a `key value` pair naming the step is the counter, not a metric: the shared record keys,
# plus the spellings lines print ("global step", llm.c's "s:100")
_STEP_KEYS = {k.lower() for k in STEP_KEYS} | {"global step", "s"}
_RENAMES = {
    "dt": "step_time",
    "time": "step_time",
    "tok/s": "tokens_per_s",
    "tok/sec": "tokens_per_s",
    "tokens/s": "tokens_per_s",
    "tokens/sec": "tokens_per_s",
    "trl": "train_loss",
    "tel": "val_loss",
}
_VALUE_FIRST_NAMES = {"ms": "step_time", "s": "step_time", "tok/s": "tokens_per_s", "tokens/s": "tokens_per_s"}
_HF_SUMMARY_KEY = "train_runtime"


# Numbers as the fast path sees them: not glued to a word ("bf16", "rank0", "nanoGPT" are
# text), optionally followed by a unit. Splitting a line on them leaves its "skeleton".
_NUM_CS = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
_NUMBER_TOKEN = re.compile(rf"(?<![\w.])({_NUM_CS})(?=(?:ms|us|µs|sec|s|min|h|%)?(?![\w.]))")
_HAS_DIGIT = re.compile(r"[0-9]").search  # every record line has one (its step, at least)
_HOT_PLANS = 8  # skeletons tried by their own anchored regex before splitting a line
_FAST_MAX_NUMBERS = 2 * 100 + 1  # longer shapes (split parts) are always read by splitting


def _scale(unit: str | None) -> float:
    return _SECONDS.get(unit.lower(), 1.0) if unit else 1.0


def _to_value(text: str) -> float | None:
    """A printed value (`2.5`, `'nan'`, `12ms`) -> float, else None."""
    m = _VALUE_UNIT.match(text)
    return float(m.group(1)) * _scale(m.group(2)) if m else None


def _wall_time(stamp: str) -> float:
    """An ISO timestamp from a logger prefix -> POSIX seconds (UTC when it names no zone)."""
    try:
        dt = datetime.fromisoformat(stamp.replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return math.nan
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


#: seconds one user pattern may spend on one line; past it the pattern is dropped for the file
USER_PATTERN_TIMEOUT = 0.05
_INT64 = 1 << 63


def _in_int64(step: int) -> bool:
    return -_INT64 <= step < _INT64


def compile_user_patterns(settings: Any, where: Path | str = "[tool.hnet-diag]") -> list[Any]:
    """`[[tool.hnet-diag.log-patterns]]` entries -> compiled regexes with a `step` group.

    Compiled with the `regex` package (the `re` syntax), whose matching takes a timeout: a
    settings file may come with the run folder, and a pattern like `^(?P<step>a+)+$`
    backtracks exponentially. A pattern that exceeds USER_PATTERN_TIMEOUT on a line is
    dropped for the rest of that file with a warning. A bad entry is an InputError naming
    `where` (the settings file), so the user knows where to look.
    """
    import regex
    entries = settings.get("log-patterns", [])
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise InputError(where, "log-patterns must be a list of tables with a `regex` key")
    patterns = []
    for i, entry in enumerate(entries):
        text = entry.get("regex") if isinstance(entry, dict) else entry
        if not isinstance(text, str):
            raise InputError(where, f"log-patterns[{i}] has no `regex` string")
        try:
            pattern = regex.compile(text)
        except (regex.error, ValueError, TypeError, OverflowError, RecursionError) as err:
            raise InputError(where, f"log-patterns[{i}] is not a valid regular expression ({err}): {text!r}") from err
        if "step" not in pattern.groupindex:
            raise InputError(where, f"log-patterns[{i}] needs a named group `step`, as in (?P<step>\\d+): {text!r}")
        patterns.append(pattern)
    return patterns


@dataclass(frozen=True)
class LogOptions:
    """What the user's settings tell the text-log reader: extra line patterns, and the
    Hugging Face `logging_steps` to use when a log does not print it."""

    patterns: tuple[Any, ...] = ()  # compiled with the `regex` package (matched with a timeout)
    logging_steps: int | None = None
    source: Path | str | None = None  # the settings file, named when a pattern times out

    @classmethod
    def from_settings(cls, settings: Any) -> "LogOptions":
        """From a `ProjectSettings` (`log-patterns`, `logging-steps`); InputError naming its file."""
        patterns = compile_user_patterns(settings, settings.where)
        steps = settings.get("logging-steps")
        steps = steps if isinstance(steps, int) and not isinstance(steps, bool) and 0 < steps < 1 << 40 else None
        return cls(tuple(patterns), steps, settings.where)


class _Plan:
    """How to read every line of one skeleton: which number is the step, which are metrics.

    Lines that differ only in their numbers parse the same way, so the regex work is done
    once per skeleton (a handful per log); a recurring skeleton gets an anchored regex of
    its own, so each further line of it costs one match.
    """

    __slots__ = (
        "kind", "step_at", "max_at", "epoch_at", "value_at", "codes", "scales", "dated", "regex", "next", "take",
        "match", "fast",
    )

    def __init__(self, kind, step_at=None, max_at=None, value_at=(), codes=(), scales=(), dated=None, epoch_at=None):
        self.kind = kind  # "step", "val", "count", "hf_train", "hf_train_bar", "hf_eval", "hf_summary", "info", "skip"
        self.step_at = step_at  # index among the line's numbers
        self.max_at = max_at
        self.epoch_at = epoch_at  # index of the epoch printed on the line, if any
        self.value_at = value_at
        self.codes = codes  # tag codes, parallel to value_at
        self.scales = scales if any(s != 1.0 for s in scales) else None
        self.dated = dated  # (start, end) of the ISO timestamp in the logger prefix, if any
        self.regex: re.Pattern[str] | None = None  # matches exactly the lines of this skeleton
        self.match = None  # regex.match, bound once
        self.fast = False  # a step record with its own regex: read inline by the hot loop
        self.next: _Plan | None = None  # the shape that followed this one last time
        # nums -> the metric values' texts, in `codes` order (itemgetter of one index
        # returns the item itself, not a 1-tuple)
        if len(value_at) == 1:
            only = value_at[0]
            self.take = lambda nums: (nums[only],)
        else:
            self.take = itemgetter(*value_at) if value_at else (lambda nums: ())

    def set_regex(self, parts: list[str]) -> None:
        """Give this plan an anchored regex for the lines of the same skeleton as `parts`."""
        self.regex = self.regex_for(parts)
        self.match = self.regex.match
        self.fast = self.kind == "step"

    @staticmethod
    def regex_for(parts: list[str]) -> re.Pattern[str]:
        """An anchored regex for the lines that split into the same skeleton as `parts`."""
        number = f"({_NUM_CS})"
        return re.compile("".join(re.escape(t) + number for t in parts[0:-1:2]) + re.escape(parts[-1]) + r"\Z")


_SKIP = _Plan("skip")  # shared: a skip plan never becomes a parser's last plan
_PLAN_CACHE_LIMIT = 20_000  # distinct skeletons kept; past it, new ones are parsed each time


def _fields(body: str, start: int, offset: int, *, keyed_only: bool = False, first_only: bool = False,
            renames: dict[str, str] | None = None) -> list[tuple[str, int, str | None]]:
    """(name, position in the chunk, unit) of the fields after `start` of one line.

    `keyed_only`: only `key: value` / `key=value` count (a bare `loss 0.41` on an epoch line is
    prose as often as a field); `first_only`: the first of a repeated name counts (`Loss: ... |
    Val Loss: ...` both read as loss otherwise); `renames` wins over the reader's own names."""
    found: list[tuple[str, int, str | None]] = []
    seen: set[str] = set()
    for pm in _PAIR.finditer(body, start):
        if keyed_only and pm.group(2) is None:
            continue
        key = pm.group(1).lower()
        name = renames[key] if renames and key in renames else _RENAMES.get(key, key.replace(" ", "_"))
        if first_only:
            if name in seen:
                continue
            seen.add(name)
        found.append((name, offset + pm.start(3), pm.group(4)))
    return found


class _LogParser:
    """State of one file's parse: the records so far and what they imply (steps, restarts)."""

    def __init__(self, source: str, user_patterns: list[Any], logging_steps: int | None, pattern_file: Path | None = None):
        self.source = source
        self.user_patterns = list(user_patterns)
        self.pattern_file = pattern_file
        self.warnings: list[LoadWarning] = []
        self.logging_steps = logging_steps
        self.logging_steps_from_settings = logging_steps is not None
        self.tag_names: list[str] = []
        self.tag_codes: dict[str, int] = {}
        self.plans: dict[str, _Plan] = {}
        self.hot: list[_Plan] = []  # metric skeletons matched by regex first (fast path)
        self.last_plan: _Plan | None = None
        self.info_plan = _Plan("info")  # per parser: plans link to their successor (`next`)
        self.evict = 0
        # one entry per record line; values flat, in line order
        self.line_codes: list[tuple[int, ...]] = []
        self.line_steps: list[int] = []
        self.line_walls: list[float] = []
        self.values: list[float] = []
        self.events: list[RunEvent] = []
        self.last_step: int | None = None
        self.step_offset = 0  # steps of earlier epochs, when the counter counts within one
        self.last_epoch: str | None = None
        self.n_restarts = 0
        self.per_epoch_counter = False
        self.total_steps: int | None = None  # "Total optimization steps = N" (Trainer)
        self.config_max_iters: int | None = None  # nanoGPT's echoed "max_iters = N" (the last one)
        self.num_epochs: int | None = None  # "Num Epochs = N" (Trainer)
        self.hf_by_order = 0  # HF record lines whose step is their order (no interval known)
        self.max_steps: int | None = None
        self.hf_count = 0  # training dicts seen since the last (re)start
        self.hf_base = 0
        self.hf_step: int | None = None
        self.summary: dict[str, float] = {}
        self.hf_lines = 0  # record lines from HF dicts (training, evaluation, bar-glued)
        self.bar: tuple[int, int] | None = None  # the last training progress bar's N/M
        self.bar_at_summary: tuple[int, int] | None = None  # ... as it stood at the final summary
        self.fresh_bar: tuple[int, int] | None = None  # any bar drawn since the last HF training record
        self.train_bars: list[tuple[int, tuple[int, int] | None]] = []  # (line, fresh bar) per HF training record
        self.row_up = False  # the line being read was drawn one row up (ESC[A): a nested bar
        self.multiline = False  # OLMo-style records (header line + indented fields): joined first
        self.pending: list[str] | None = None  # the record being joined, across read chunks

    @property
    def n_records(self) -> int:
        return len(self.values)

    def drain(self):
        """The records parsed since the last drain, as flat arrays, and forget them.

        (tag names, code, step, value, wall_time); codes index the tag names, which only
        grow. The live tail (`sources/tail.py`) feeds new lines and drains after each poll,
        so the parser's state (steps, restarts, plans) carries on while its record lists
        stay as small as one poll's lines.
        """
        import numpy as np

        per_line = np.fromiter((len(c) for c in self.line_codes), dtype=np.int64, count=len(self.line_codes))
        codes = np.fromiter(chain.from_iterable(self.line_codes), dtype=np.int32, count=self.n_records)
        out = (
            list(self.tag_names),
            codes,
            np.repeat(np.asarray(self.line_steps, dtype=np.int64), per_line),
            np.asarray(self.values, dtype=np.float64),
            np.repeat(np.asarray(self.line_walls, dtype=np.float64), per_line),
        )
        self.line_codes, self.line_steps, self.line_walls, self.values = [], [], [], []
        return out

    # -- per line ------------------------------------------------------------------------
    def join_records(self, lines: list[str]) -> list[str]:
        """OLMo's multi-line records as one line each: `<ISO time> [step=N/M,epoch=E] k=v k=v`.

        The logger prefix between the time and the header (host:rank, module:line, level) is
        dropped: its `name:number` pairs are no metrics. A record still open at the end of a
        chunk is kept for the next one (`flush` ends it at the end of the file)."""
        out: list[str] = []
        for line in lines:
            if self.pending is not None:
                fm = _OLMO_FIELD.match(line)
                if fm:  # `System/Peak GPU Memory (MB)=111,477` -> `System/Peak_GPU_Memory_MB=111477`
                    key = _NOT_IN_KEY.sub("_", fm.group(1)).strip("_")
                    self.pending.append(f"{key}={fm.group(2).replace(',', '')}")
                    continue
                out.append(" ".join(self.pending))
                self.pending = None
            hm = _OLMO_HEADER.search(line)
            if hm:
                iso = _ISO.match(line)
                self.pending = [iso.group(0), hm.group(0).strip()] if iso else [hm.group(0).strip()]
                continue
            out.append(line)
        return out

    def flush(self) -> None:
        if self.pending is not None:
            record, self.pending = " ".join(self.pending), None
            self.feed([record])

    def feed(self, lines: list[str]) -> None:
        """Parse a batch of lines (one read chunk).

        This is the hot loop of a million-line log, so the common case is inlined: the line
        has the shape that followed the previous line's shape last time (the same shape in
        a uniform log, the next one in an interleaved one) and is a plain step record.
        """
        values_extend = self.values.extend
        codes_append = self.line_codes.append
        steps_append = self.line_steps.append
        walls_append = self.line_walls.append
        slow = self._slow_line
        nan = math.nan
        use_fast = not self.user_patterns
        for line in lines:
            if "\x1b" in line:
                if "\x1b[A" in line and not self.row_up:  # a nested (evaluation) bar, drawn one
                    self.row_up = True  # row above the training bar: its N/M is not the run's
                    try:
                        self.feed([line])
                    finally:
                        self.row_up = False
                    continue
                line = _ANSI.sub("", line)
            if "\r" in line:
                line = line.rstrip("\r")
                if "\r" in line:  # progress-bar redraws: each part is a line of its own
                    for part in line.split("\r"):
                        if part.strip():
                            slow(part)
                    continue
            last = self.last_plan
            if use_fast and last is not None:
                plan = last.next
                if plan is not None and plan.fast:
                    m = plan.match(line)
                    if m is not None:
                        nums = m.groups()
                        try:
                            step = int(nums[plan.step_at])
                            if not -_INT64 <= step < _INT64:  # a 20-digit "step" is no step
                                continue
                            if plan.max_at is not None:
                                self.max_steps = int(nums[plan.max_at])
                        except ValueError:  # "iter 1.5:" or "step nan": not a record after all
                            continue
                        if plan.epoch_at is None:
                            step += self.step_offset
                            last_step = self.last_step
                            if last_step is not None and step < last_step:
                                step = self._place(step - self.step_offset, None)
                            else:
                                self.last_step = step
                        else:
                            step = self._place(step, nums[plan.epoch_at])
                        if not -_INT64 <= step < _INT64:  # a 20-digit "step" is no step
                            continue
                        # number tokens always parse as floats; only a step can fail above
                        if plan.scales is None:
                            values_extend(map(float, plan.take(nums)))
                        else:
                            values_extend([float(v) * s for v, s in zip(plan.take(nums), plan.scales)])
                        codes_append(plan.codes)
                        steps_append(step)
                        walls_append(_wall_time(line[plan.dated[0] : plan.dated[1]]) if plan.dated else nan)
                        self.last_plan = plan
                        continue
                    slow(line, plan)  # the predicted shape did not match: do not try it twice
                    continue
            slow(line)

    def _place(self, raw: int, epoch: str | None) -> int:
        """A printed step -> the step stored, handling a counter that goes back.

        Going back while the epoch printed on the same line advances means the counter
        counts within an epoch: later steps are shifted to continue the previous epoch's
        (global step = steps of earlier epochs + printed step). Any other going back is a
        restart of the run: an event, and steps are taken as printed again.
        """
        step = raw + self.step_offset
        last = self.last_step
        if last is not None and step < last:
            new_epoch = _to_value(epoch) if epoch is not None else None
            old_epoch = _to_value(self.last_epoch) if self.last_epoch is not None else None
            if new_epoch is not None and old_epoch is not None and new_epoch > old_epoch:
                self.step_offset = last + 1 - raw
                step = last + 1
                self.per_epoch_counter = True  # its "/M" counts steps per epoch, not planned steps
            else:
                self.step_offset = 0
                step = raw
                self._restart(step)
        self.last_step = step
        if epoch is not None:
            self.last_epoch = epoch
        return step

    def _restart(self, step: int) -> None:
        self.n_restarts += 1
        if self.n_restarts <= MAX_RESTART_EVENTS:
            self.events.append(
                RunEvent("restart", self.source, step, f"step counter went back from {self.last_step} to {step}")
            )

    def _slow_line(self, line: str, tried: _Plan | None = None) -> None:
        if "/" in line and "[" in line:  # a progress bar's N/M (nested, drawn a row up, or the training bar)
            bars = _TQDM_BAR.findall(line)
            if bars and len(bars[-1][0]) <= 18 and len(bars[-1][1]) <= 18:
                self.fresh_bar = (int(bars[-1][0]), int(bars[-1][1]))
                if not self.row_up:
                    self.bar = self.fresh_bar
        if self.user_patterns:
            for pattern in list(self.user_patterns):
                try:
                    um = pattern.search(line, timeout=USER_PATTERN_TIMEOUT)
                except TimeoutError:
                    self.user_patterns.remove(pattern)
                    self.warnings.append(LoadWarning(self.source, (
                        f"log pattern {pattern.pattern[:80]!r} from {self.pattern_file or 'the settings'} took more than "
                        f"{USER_PATTERN_TIMEOUT:g} s on one line (catastrophic backtracking?); not used for the rest of this file")))
                    continue
                if um:
                    self._user_record(um, line)
                    return
        last = self.last_plan
        plan = last.next if last is not None else None
        m = None
        if plan is not None and plan.regex is not None and plan is not tried:
            m = plan.match(line)
        if m is None:
            if not _HAS_DIGIT(line):  # no number, no record: only a Trainer banner matters
                if self.hf_count and "Running training" in line and "*****" in line:
                    self.hf_base, self.hf_count = 0, 0  # a new run in the same log
                return
            for plan in self.hot:
                if plan is not tried:
                    m = plan.match(line)
                    if m is not None:
                        break
        if m is not None:
            nums = m.groups()
        else:
            parts = _NUMBER_TOKEN.split(line)
            if len(parts) == 1:
                return
            skeleton = "\x00".join(parts[0::2])
            plan = self.plans.get(skeleton)
            if plan is None:
                plan = self._plan(line, parts)
                if len(self.plans) < _PLAN_CACHE_LIMIT:
                    self.plans[skeleton] = plan
            elif plan.kind != "skip" and plan.regex is None and len(parts) <= _FAST_MAX_NUMBERS:
                # seen twice: a recurring shape, worth its own regex (one-off shapes, such
                # as Trainer records whose progress-bar glyphs change, are not)
                plan.set_regex(parts)
            if plan.kind == "skip":
                return
            if plan.regex is not None and plan not in self.hot:
                if len(self.hot) < _HOT_PLANS:
                    self.hot.append(plan)
                else:  # round-robin eviction: a log rarely has more than a few metric shapes
                    self.hot[self.evict % _HOT_PLANS] = plan
                    self.evict += 1
            nums = parts[1::2]
        if last is not None:
            last.next = plan
        self.last_plan = plan
        try:
            self._record(plan, nums, line)
        except ValueError:  # a number where a step belongs is not an integer: not a record
            return

    def _record(self, plan: _Plan, nums, line: str) -> None:
        kind = plan.kind
        values = [float(v) for v in plan.take(nums)]
        if kind == "step":
            raw = int(nums[plan.step_at])
            if plan.max_at is not None:
                self.max_steps = int(nums[plan.max_at])
        elif kind == "hf_train":
            self.hf_count += 1
            step = self.hf_step = self.hf_base + self.hf_count * (self.logging_steps or 1)
            self.hf_by_order += self.logging_steps is None
        elif kind == "hf_eval" and self.hf_step is not None:
            step = self.hf_step
            self.hf_by_order += self.logging_steps is None
        elif kind == "hf_train_bar":
            step = self.hf_step = int(nums[plan.step_at])
            self.max_steps = int(nums[plan.max_at])
        elif kind == "hf_eval":
            step = self.hf_step if self.hf_step is not None else (self.last_step or 0)
        elif kind == "val":
            step = self.last_step or 0
        elif kind == "count":
            step = (self.last_step if self.last_step is not None else 0) + 1
        elif kind == "hf_summary":
            self.summary = {self.tag_names[c]: v for c, v in zip(plan.codes, values)}
            self.bar_at_summary = self.bar
            return
        else:
            self._info(line)
            return
        if kind == "step":
            if not _in_int64(raw):
                return
            step = self._place(raw, nums[plan.epoch_at] if plan.epoch_at is not None else None)
        else:
            if self.last_step is not None and step < self.last_step:
                self._restart(step)
            self.last_step = step
        if not _in_int64(step):
            raise ValueError("step beyond int64")
        if kind == "hf_train" or kind == "hf_train_bar":
            own_line = kind == "hf_train_bar" or line.lstrip().startswith("{")  # not after a logger's prefix
            self.train_bars.append((len(self.line_steps), self.fresh_bar if own_line else None))
            self.fresh_bar = None
        self.hf_lines += kind not in ("step", "val", "count")
        if plan.scales is None:
            self.values.extend(values)
        else:
            self.values.extend([v * s for v, s in zip(values, plan.scales)])
        self.line_codes.append(plan.codes)
        self.line_steps.append(step)
        self.line_walls.append(_wall_time(line[plan.dated[0] : plan.dated[1]]) if plan.dated else math.nan)

    def _info(self, line: str) -> None:
        """Lines that set parse state rather than carry metrics (Trainer set-up output)."""
        # counts beyond int64 (or past Python's 4,300-digit int limit) are not counts
        lm = _LOGGING_STEPS.search(line)
        if lm and len(lm.group(1)) <= 18 and int(lm.group(1)) > 0 and not self.logging_steps_from_settings:
            self.logging_steps = int(lm.group(1))
        tm = _TOTAL_STEPS.search(line)
        if tm and len(tm.group(1)) <= 24:
            total = int(tm.group(1).replace(",", "") or 0)
            self.total_steps = total if _in_int64(total) else self.total_steps
        em = _NUM_EPOCHS.search(line)
        if em and len(em.group(1)) <= 18:
            self.num_epochs = int(em.group(1).replace(",", "") or 0)
        cm = _CONTINUING.search(line)
        if cm and len(cm.group(1)) <= 18:
            self.hf_base, self.hf_count = int(cm.group(1)), 0
        nm = _NANOGPT_MAX_ITERS.match(line.strip())
        if nm and len(nm.group(1)) <= 18:
            self.config_max_iters = int(nm.group(1))

    def _code(self, tag: str) -> int:
        code = self.tag_codes.get(tag)
        if code is None:
            code = self.tag_codes[tag] = len(self.tag_names)
            self.tag_names.append(tag)
        return code

    def _user_record(self, m: Any, line: str) -> None:
        try:
            step = int(m.group("step"))
        except (TypeError, ValueError):
            return
        if not _in_int64(step):
            return
        codes, values = [], []
        for name, text in m.groupdict().items():
            if name == "step" or text is None:
                continue
            value = _to_value(text)
            if value is not None:
                codes.append(self._code(name))
                values.append(value)
        if not values:
            return
        step = self._place(step, m.groupdict().get("epoch"))
        if not _in_int64(step):
            return
        self.values.extend(values)
        self.line_codes.append(tuple(codes))
        self.line_steps.append(step)
        iso = _ISO.search(line)
        self.line_walls.append(_wall_time(iso.group(0)) if iso else math.nan)

    # -- planning: the regex work, once per skeleton --------------------------------------
    def _plan(self, line: str, parts: list[str]) -> _Plan:
        starts: dict[int, int] = {}  # character offset of each number token -> its index
        pos = 0
        for i, part in enumerate(parts):
            if i % 2:
                starts[pos] = i // 2  # index among the numbers
            pos += len(part)

        def plan(kind, found, step_pos=None, max_pos=None):
            value_at, codes, scales = [], [], []
            for tag, at, unit in found:
                if at in starts:
                    value_at.append(starts[at])
                    codes.append(self._code(tag))
                    scales.append(_scale(unit))
            if not value_at and kind != "info":
                return _SKIP
            step_at = starts.get(step_pos) if step_pos is not None else None
            if kind == "step" and step_at is None:
                return _SKIP
            iso = _ISO.search(line, 0, offset)  # a timestamp in the logger prefix: fixed width
            dated = iso.span() if iso else None
            epoch_at = next((at for at, c in zip(value_at, codes) if self.tag_names[c].lower() == "epoch"), None)
            return _Plan(
                kind, step_at, starts.get(max_pos), tuple(value_at), tuple(codes), tuple(scales), dated, epoch_at
            )

        m = _PREFIX.match(line)
        offset = m.end() if m else 0
        body = line[offset:]
        if not body:
            return _SKIP
        rl = _RL_LOSS.search(body) if "rl_loss" in body else None
        if rl:  # no counter on the line (and a reward dict after it): the k-th such line is step k
            return plan("count", [("loss", offset + rl.start(1), None), ("grad_norm", offset + rl.start(2), None)])
        brace = body.find("{")
        if brace == 0 or (brace > 0 and body[brace + 1 : brace + 2] in "'\"" and _STEP.search(body, 0, brace) is None):
            return self._plan_dict(line, offset + brace, plan)
        sm = _STEP.search(body)
        if sm is None:
            if body.startswith("s:") and _LLMC_LOGFILE.match(body):  # llm.c `-o` log file
                found, step_pos = [], None
                for pm in _PAIR.finditer(body):
                    key, unit = pm.group(1), pm.group(4)
                    if key == "s":
                        step_pos = offset + pm.start(3)
                    else:
                        found.append((_RENAMES.get(key.lower(), key), offset + pm.start(3), unit))
                return plan("step", found, step_pos)
            bm = _NANOGPT_LOGFILE.match(body)
            if bm:  # build-nanogpt log file: the whole line is "<step> <split> <value>"
                name = _NANOGPT_LOGFILE_NAMES[bm.group(2).lower()]
                return plan("step", [(name, offset + bm.start(3), None)], offset + bm.start(1))
            mm = _MINIMIND.match(body) if body[:6].lower() == "epoch:" else None
            if mm:  # the in-epoch step counter; the epoch before it makes it global
                found = [("epoch", offset + mm.start(1), None)] + _fields(body, mm.end(), offset)
                return plan("step", found, offset + mm.start(2), offset + mm.start(3))
            wm = _WORDLM_BATCH.match(body) if "batches" in body else None
            if wm:  # the in-epoch batch counter is the step; the epoch beside it makes it global
                found = [("epoch", offset + wm.start(2), None)]
                for pm in _PAIR.finditer(body, wm.end()):
                    key = pm.group(1).lower()
                    if key == "ms/batch":
                        found.append(("step_time", offset + pm.start(3), "ms"))
                    else:
                        found.append((_RENAMES.get(key, key.replace(" ", "_")), offset + pm.start(3), pm.group(4)))
                return plan("step", found, offset + wm.start(3))
            if body[:2].lower() == "ep":
                for pattern in _IN_EPOCH_BATCH_LINES:
                    nb = pattern.match(body)
                    if nb:  # the in-epoch batch counter is the step; the epoch beside it makes it global
                        found = [("epoch", offset + nb.start(1), None)] + _fields(body, nb.end(), offset, keyed_only=True)
                        return plan("step", found, offset + nb.start(2))
            bb = _BRACKET_BAR.match(body) if "%" in body and "]" in body else None
            if bb:  # the bar's N/M is the step and the plan; its `key=value` fields the record
                found = [f for f in _fields(body, bb.end(), offset, keyed_only=True) if f[0].lower() != "eta"]
                if any("loss" in f[0].lower() for f in found):  # not a tokenizer's or a download's bar
                    return plan("step", found, offset + bb.start(1), offset + bb.start(2))
                return _SKIP
            if body[:5].lower() == "loss:":
                bl = _BARE_LOSS_LINE.match(body)
                if bl:  # no counter on the line: the k-th such line is step k
                    return plan("count", [("loss", offset + bl.start(1), None)])
            if body[:5].lower() == "epoch":
                ez = _EPOCH_DONE_ZH.match(body) if "完成" in body else None
                if ez:  # the epoch's validation loss, at its last logged batch
                    return plan("val", [("val_loss", offset + ez.start(1), None)])
                el = _EPOCH_LR.match(body)
                if el:  # the epoch's LR, at the last step read so far
                    return plan("val", [("lr", offset + el.start(1), None)])
                ec = _EPOCH_COMMA_LOSS.match(body)
                if ec:
                    return plan("step", [("loss", offset + ec.start(2), None)], offset + ec.start(1))
                ep = _EPOCH_PIPE.match(body)
                if ep:
                    found = _fields(body, ep.end(), offset, keyed_only=True, first_only=True)
                    return plan("step", found, offset + ep.start(1))
                bl = _EPOCH_BATCH_LOSS.match(body)
                if bl:  # no counter on the line: the k-th such line is step k
                    return plan("count", [("loss", offset + bl.start(1), None)])
            pm0 = _EPOCH_LINE.match(body) if body[:5].lower() == "epoch" else None
            if pm0:  # a per-epoch line: its `key: value` / `key=value` fields at the epoch
                step_pos, max_pos = (pm0.start(1), pm0.start(2)) if pm0.group(1) else (pm0.start(3), pm0.start(4))
                found = _fields(body, pm0.end(), offset, keyed_only=True, renames=_EPOCH_LINE_RENAMES)
                return plan("step", found, offset + step_pos, offset + max_pos)
            em = _WORDLM_EPOCH_END.match(body) if "valid loss" in body else None
            if em:  # the epoch's validation loss, at the epoch's last logged batch
                return plan("val", [("val_loss", offset + em.start(1), None)])
            vm = _STEPLESS_VAL.match(body) if "loss" in body else None
            if vm:  # llm.c prints "val loss X" before the next step line: it is this step's
                return plan("val", [("val_loss", offset + vm.start(1), None)])
            if ("logging_steps" in body or "optimization steps" in body or "Continuing training" in body
                    or "Num Epochs" in body or body.startswith(("max_iters = ", "Overriding: max_iters = "))):
                return self.info_plan
            return _SKIP
        found = []
        # "key value" with only a space between is how nanoGPT and llm.c print, always on
        # lines that start with the counter; elsewhere (prose such as "in step 5 the loss
        # of 3 runs") only "key: value" and "key=value" count
        spaced_ok = sm.start() == 0
        for pm in _PAIR.finditer(body):
            key = pm.group(1)
            low = key.lower()
            if low in _STEP_KEYS or (pm.group(2) is None and not spaced_ok and low != "epoch"):
                continue
            found.append((_RENAMES.get(low, key.replace(" ", "_")), offset + pm.start(3), pm.group(4)))
        if "|" in body:
            for vm in _VALUE_FIRST.finditer(body):
                what = vm.group(2).lower()
                unit = what if what in _SECONDS else None
                found.append((_VALUE_FIRST_NAMES.get(what, "mfu"), offset + vm.start(1), unit))
        return plan("step", found, offset + sm.start(2), offset + sm.start(3) if sm.group(3) else None)

    def _plan_dict(self, line: str, at: int, plan) -> _Plan:
        """A printed dict: Hugging Face Trainer records, or any dict with a step key."""
        end = line.rfind("}")
        if end < at:
            return _SKIP
        found, keys, step_pos, counter = [], set(), None, None
        for dm in _DICT_PAIR.finditer(line, at, end + 1):
            g = next(g for g in (2, 3, 4) if dm.group(g) is not None)
            if dm.group(1) == SWIFT_STEP_KEY:  # ms-swift: 'global_step/max_steps': '6/9'
                sm = SWIFT_STEP.match(dm.group(g))
                if sm:
                    counter = (dm.start(g) + sm.start(1), dm.start(g) + sm.start(2))
                continue
            vm = _VALUE_UNIT.match(dm.group(g))
            if not vm:
                continue
            key = dm.group(1)
            value_pos = dm.start(g) + vm.start(1)
            if key in STEP_KEYS:
                step_pos = value_pos
                continue
            keys.add(key)
            found.append((key, value_pos, vm.group(2)))
        if step_pos is not None:
            return plan("step", found, step_pos)
        if counter is not None and _HF_SUMMARY_KEY not in keys:  # ms-swift's own 'N/M'
            return plan("hf_train_bar" if "loss" in keys else "step", found, *counter)
        if _HF_SUMMARY_KEY in keys:
            return plan("hf_summary", found)
        if "loss" in keys:
            # A Trainer training record. Glued to the training progress bar (tqdm.write
            # output captured with the bar), the bar's `N/M` is the exact step; else the
            # step is implied by order.
            bars = list(_TQDM_BAR.finditer(line, 0, at))
            if bars:
                return plan("hf_train_bar", found, bars[-1].start(1), bars[-1].start(2))
            return plan("hf_train", found)
        if any(k.startswith("eval_") for k in keys):  # belongs to the preceding train step
            return plan("hf_eval", found)
        return _SKIP  # some other dict (a config, a sample): not a metric record

    def infer_logging_steps(self) -> None:
        """Steps of Hugging Face records counted by order become k * L when the log shows the
        run ended where it planned to (`Total optimization steps = M`, `Num Epochs = E`, the
        final summary at epoch E) and one interval L alone gives `floor(M / L)` records.

        The Trainer logs at every multiple of `logging_steps`, so a finished run of M steps
        has floor(M / L) training records. A run stopped short (early stopping, an error)
        has fewer, which is why the summary's epoch must reach the planned epochs; an extra
        record (`logging_first_step`) usually leaves no single L, and then nothing changes.
        """
        m, n = self.total_steps, self.hf_count
        done = self.summary.get("epoch")
        if (self.logging_steps is not None or m is None or not n or self.hf_base or self.n_restarts
                or self.num_epochs is None or done is None or done < self.num_epochs - 0.01
                or self.hf_by_order != len(self.line_steps)):
            return
        lo, hi = m // (n + 1) + 1, m // n  # the integers L with floor(m / L) == n
        if lo != hi or hi < 2:
            return
        self.line_steps = [s * hi for s in self.line_steps]
        self.logging_steps = hi
        if self.hf_step is not None:
            self.hf_step *= hi
        if self.last_step is not None:
            self.last_step *= hi

    def date_buffered_records(self) -> None:
        """Hugging Face records counted by order (no `logging_steps`) in a log whose progress
        bars ran ahead of them (records buffered on stdout, printed in bunches after the bars):
        the last training bar `N/M` says how far the run got and what it planned.

        When every training record on a line of its own had a bar drawn since the previous
        record, all toward one plan M and never going back, a record's step is its bar's N
        (an evaluation dict takes the step of the record before it). Else, with the final
        summary at epoch E and the training bar N/M standing when it was printed, a record's
        step is its epoch x N / E (rounded), for every HF record of the file when each has an
        epoch and the epochs never go back (one run). Either way the going back of the count
        between a bar-glued record and the counted ones was no restart. With no bar at all, the
        Trainer's printed `Total optimization steps = M` and `Num Epochs = E` date the records
        the same way (epoch x M / E). Else the records keep their ordinal and only the plan M is
        taken, when N is past their count.
        """
        n_lines = len(self.line_steps)
        if (self.logging_steps is not None or not self.hf_by_order or self.hf_lines != n_lines
                or self.hf_base or not n_lines):
            return
        bars = [b for _, b in self.train_bars]
        if bars and None not in bars and len({m for _, m in bars}) == 1 and all(
                a[0] <= b[0] for a, b in zip(bars, bars[1:])):
            bar_at = {row: bar[0] for row, bar in self.train_bars}  # record line -> its bar's N
            steps, step = list(self.line_steps), None
            for i in range(n_lines):
                step = bar_at.get(i, step)  # an evaluation dict keeps the step of the record before it
                if step is not None:
                    steps[i] = step
            self.line_steps = steps
            self._dated(bars[-1][1])
            return
        bar = self.bar_at_summary if self.summary else self.bar
        if bar is None or bar[0] > bar[1]:
            # no bar at all (LLaMA Board's running_log.txt keeps the logger's lines, not the bars):
            # the Trainer's printed plan, `Total optimization steps = M` over `Num Epochs = E`,
            # dates the records by their epochs, at M / E steps an epoch
            epochs = self._record_epochs() if bar is None and self.total_steps and self.num_epochs else None
            if epochs and epochs[-1] <= self.num_epochs:
                self.line_steps = [round(e * self.total_steps / self.num_epochs) for e in epochs]
                self._dated(self.total_steps)
            return
        reached, planned = bar
        final = self.summary.get("epoch")
        if final is not None and math.isfinite(final) and final > 0 and reached > 0:
            epochs = self._record_epochs()
            if epochs:
                self.line_steps = [round(e * float(reached) / final) for e in epochs]
                self._dated(planned)
                return
        if reached >= max(self.line_steps):
            self.max_steps = planned

    def _record_epochs(self) -> list[float] | None:
        """The `epoch` of every record, when each has one and they never go back (one run), else None."""
        code = self.tag_codes.get("epoch")
        if code is None:
            return None
        epochs: list[float] = []
        at = 0
        for codes in self.line_codes:
            if code in codes:
                epochs.append(self.values[at + codes.index(code)])
            at += len(codes)
        if (len(epochs) == len(self.line_steps) and all(math.isfinite(e) and e >= 0 for e in epochs)
                and all(a <= b for a, b in zip(epochs, epochs[1:]))):
            return epochs
        return None

    def _dated(self, planned: int) -> None:
        """Steps newly placed by the bars: the plan is the bar's M, and the count going back
        (between a bar-glued record and the counted ones) was no restart."""
        self.hf_step = self.last_step = max(self.line_steps)
        if self.n_restarts:
            self.events[:] = [e for e in self.events if e.kind != "restart"]
            self.n_restarts = 0
        self.max_steps = planned

    def settings_found(self) -> dict[str, Any]:
        """What the log says of the run's plan, as a config mapping (read whole or tailed alike):
        planned steps (not a per-epoch counter's /M), logging interval, the final summary."""
        config: dict[str, Any] = {}
        max_steps = self.total_steps if self.total_steps is not None else self.max_steps
        if max_steps is None and self.config_max_iters:
            max_steps = self.config_max_iters
        if max_steps is not None and not (self.per_epoch_counter and self.total_steps is None):
            config["max_steps"] = max_steps
        if self.logging_steps is not None:
            config["logging_steps"] = self.logging_steps
        if self.summary:
            config["train_summary"] = dict(self.summary)
            # the training bar as it stood at the final summary: how far the run got, even where
            # its last record was logged (or dated) some steps earlier
            if self.bar_at_summary is not None and 0 < self.bar_at_summary[0] <= self.bar_at_summary[1]:
                config["steps_reached"] = self.bar_at_summary[0]
        return config


def _chunks(path: Path, start: int = 0):
    """Yield (lines, bytes read so far) a chunk at a time; lines are cut at MAX_LINE_BYTES.

    Reading big chunks and splitting them is several times faster than readline, and the
    cut keeps a huge file without newlines from being held in memory whole. `start` skips
    a leading NUL run (`_leading_nuls`).
    """
    with open_regular(path) as fh:
        if start:
            fh.seek(start)
        carry = b""
        total = 0
        while True:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                if carry:
                    yield [carry.decode("utf-8", "replace")], total
                return
            total += len(chunk)
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                if len(carry) > MAX_LINE_BYTES:
                    yield [carry[i : i + MAX_LINE_BYTES].decode("utf-8", "replace") for i in range(0, len(carry), MAX_LINE_BYTES)], total
                    carry = b""
                continue
            carry = data[cut + 1 :]
            lines = data[:cut].decode("utf-8", "replace").split("\n")
            if len(data) > MAX_LINE_BYTES and any(len(line) > MAX_LINE_BYTES for line in lines):
                lines = [line[i : i + MAX_LINE_BYTES] for line in lines for i in range(0, max(len(line), 1), MAX_LINE_BYTES)]
            yield lines, total


def _head(path: Path, start: int = 0) -> bytes:
    with open_regular(path) as fh:
        if start:
            fh.seek(start)
        return fh.read(SNIFF_HEAD_BYTES)


def _leading_nuls(path: Path) -> int:
    """How many NUL bytes the file begins with (looked for within the first SNIFF_BYTES).

    A log truncated (`> train.log`, log rotation) while its writer kept its file offset gets
    the writer's next lines after a zero-filled hole: the head is NULs, the rest is text."""
    n = 0
    with open_regular(path) as fh:
        while n < SNIFF_BYTES:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                break
            rest = chunk.lstrip(b"\x00")
            n += len(chunk) - len(rest)
            if rest:
                break
    return n


def _looks_binary(path: Path) -> bool:
    return b"\x00" in _head(path)


def read(path: Path, options: LogOptions | None = None) -> SourceData | None:
    """Parse one text log; None when the file does not look like a training log."""
    options = options or LogOptions()
    path = Path(path)
    try:
        head = _head(path)
        start = _leading_nuls(path) if head[:1] == b"\x00" else 0
        if start:
            head = _head(path, start)
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror})") from err
    if b"\x00" in head:
        return None
    from . import csv as csv_source

    sep = csv_source.table_delimiter(head.decode("utf-8", errors="replace"))
    if sep is not None and not start:  # a metric table in a text file (Keras CSVLogger's training.log)
        return csv_source.read(path, sep=sep)
    parser = _LogParser(str(path), list(options.patterns), options.logging_steps, options.source)
    n_lines = 0
    try:
        for lines, n_bytes in _chunks(path, start):
            if not n_lines and _OLMO_SNIFF.search("\n".join(lines[:SNIFF_LINES])):
                parser.multiline = True
            if parser.multiline:
                lines = parser.join_records(lines)
            sniffing = not parser.n_records and not parser.summary
            if sniffing and n_lines + len(lines) > SNIFF_LINES:  # the sniff window ends here
                head = SNIFF_LINES - n_lines
                parser.feed(lines[:head])
                if not parser.n_records and not parser.summary:
                    return _nothing(parser)
                lines = lines[head:]
            n_lines += len(lines)
            parser.feed(lines)
            if n_bytes >= SNIFF_BYTES and not parser.n_records and not parser.summary:
                return _nothing(parser)
        parser.flush()
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror})") from err
    if not parser.n_records and not parser.summary:
        return _nothing(parser)
    return _source_data(parser, path)


def _nothing(parser: _LogParser) -> SourceData | None:
    """Not a training log: None, unless something met on the way must still be said
    (a damaged settings file, a log pattern that timed out)."""
    return SourceData(warnings=list(parser.warnings)) if parser.warnings else None


def _source_data(parser: _LogParser, path: Path) -> SourceData:
    import numpy as np
    import pandas as pd

    parser.infer_logging_steps()
    parser.date_buffered_records()
    data = SourceData(events=parser.events, warnings=list(parser.warnings))
    if parser.n_restarts > MAX_RESTART_EVENTS:
        data.warnings.append(
            LoadWarning(
                str(path),
                f"the step counter went back {parser.n_restarts} times; only the first {MAX_RESTART_EVENTS} "
                "are listed as restart events (a per-epoch counter? add a log pattern with an `epoch` group)",
            )
        )
    if parser.n_records:
        per_line = np.fromiter((len(c) for c in parser.line_codes), dtype=np.int64, count=len(parser.line_codes))
        codes = np.fromiter(chain.from_iterable(parser.line_codes), dtype=np.int32, count=parser.n_records)
        data.scalars = pd.DataFrame(
            {
                # categoricals: one string per distinct tag, not per row, so a million-line
                # log stays small and the loader's per-value mapping runs once per category
                "tag": pd.Categorical.from_codes(codes, parser.tag_names),
                "step": np.repeat(np.asarray(parser.line_steps, dtype=np.int64), per_line),
                "value": np.asarray(parser.values, dtype=np.float64),
                "wall_time": np.repeat(np.asarray(parser.line_walls, dtype=np.float64), per_line),
                "source": pd.Categorical.from_codes(np.zeros(parser.n_records, dtype=np.int8), [str(path)]),
            }
        )
    config = parser.settings_found()
    if config:
        data.configs[str(path)] = config
    return data
