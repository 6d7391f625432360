"""TensorBoard event files: same triples as EventAccumulator, restarts, splits, damaged files.

Every file here is written by a real writer (torch's SummaryWriter, tensorboardX, or
tensorboard's own EventFileWriter with hand-built TF2-style protos).

How the exactness comparison works: EventAccumulator is run with size_guidance 0 (keep
everything) on the same file; its simple_value scalars come from `Scalars(tag)`, its TF2
tensor scalars from `Tensors(tag)` (decoded with tensor_util.make_ndarray). The files
written for the comparison never make EventAccumulator purge: torch and tensorboardX write
file_version "brain.Event:2", for which it purges only at a SessionLog.START event, and no
writer here writes one. Values are compared by their float64 bit pattern, so NaN equals NaN.
"""
import math
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError
from hnet_diag.sources import tensorboard, tfrecord


# -- writers ------------------------------------------------------------------------------
def _torch_writer(folder, **kw):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder), **kw)


def _event_files(folder) -> list[Path]:
    return sorted(Path(folder).glob("events.out.tfevents.*"))


def _bits(v: float) -> int:
    return struct.unpack("<q", struct.pack("<d", float(v)))[0]


def _ours(folder) -> list[tuple[str, int, int]]:
    folder = Path(folder)
    df = tensorboard.read_folder(folder, _event_files(folder)).scalars
    return [(t, s, _bits(v)) for t, s, v in zip(df["tag"].astype(str), df["step"].tolist(), df["value"].tolist())]


def _accumulator(folder):
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0})
    acc.Reload()
    return acc


def _theirs(folder, tensor_tags=()) -> list[tuple[str, int, int]]:
    from tensorboard.util import tensor_util

    acc = _accumulator(folder)
    out = [(t, e.step, _bits(e.value)) for t in acc.Tags()["scalars"] for e in acc.Scalars(t)]
    for t in tensor_tags:
        out += [(t, e.step, _bits(tensor_util.make_ndarray(e.tensor_proto).item())) for e in acc.Tensors(t)]
    return out


def _write_events(folder, events, name="events.out.tfevents.1.host"):
    """Write Event protos with tensorboard's record writer, under a chosen file name."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "wb") as fh:
        w = RecordWriter(fh)
        w.write(event_pb2.Event(wall_time=events[0].wall_time if events else 1.0, file_version="brain.Event:2").SerializeToString())
        for e in events:
            w.write(e.SerializeToString())
        w.flush()
    return path


def _scalar_event(tag, step, value, wall=None):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    return event_pb2.Event(wall_time=wall if wall is not None else 1000.0 + step, step=step,
                           summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]))


# -- exactness ----------------------------------------------------------------------------
def test_torch_summary_writer_scalars_equal_event_accumulator_exactly(tmp_path):
    w = _torch_writer(tmp_path)
    special = [float("nan"), float("inf"), -float("inf"), -0.0, 1e-45, 3.4e38]
    for step in [0, 1, 2, 127, 128, 300, 16383, 16384, 70_000, 2**21 + 5, 2**28 + 1, 2**35]:
        w.add_scalar("train/loss", math.sin(step) * 3, step)
        w.add_scalar("lr", 1e-3 / (1 + step), step)
        w.add_scalar("a" * 100, step % 7, step)  # long tag: still one-byte lengths
        w.add_scalar("x" * 130, 1.5, step)  # too long for the fast layout: general path
        w.add_scalar("special", special[step % len(special)], step)
        w.add_scalar("ünïcode/tag", -step, step)
        w.add_scalar("new_style", step / 3, step, new_style=True)  # a TF2-style tensor scalar
        w.add_scalar("new_style_f64", step / 3, step, new_style=True, double_precision=True)
    w.close()
    ours = _ours(tmp_path)
    assert len(ours) == 12 * 8
    assert sorted(ours) == sorted(_theirs(tmp_path, tensor_tags=["new_style", "new_style_f64"]))


def test_every_summary_writer_scalar_record_takes_the_vectorised_path(tmp_path):
    w = _torch_writer(tmp_path)
    for step in range(0, 3000, 7):
        for tag in ("loss", "grad_norm/stage0", "lr/stage1"):
            w.add_scalar(tag, step * 0.5, step)
    w.close()
    (path,) = _event_files(tmp_path)
    buf, size = tfrecord.read_padded(path)
    fr = tfrecord.frame(buf, size)
    fast = tensorboard._fast_simple_values(buf, fr.data_start, fr.length)
    assert fast.ok[1:].all() and not fast.ok[0]  # record 0 is the file_version event
    assert sorted(_ours(tmp_path)) == sorted(_theirs(tmp_path))


def test_tensorboardx_scalars_with_and_without_metadata_equal_event_accumulator(tmp_path):
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for step in range(0, 500, 3):
        w.add_scalar("loss", 2.0 / (step + 1), step)
        w.add_scalar("described", step * 0.1, step, display_name="Described", summary_description="has metadata")
        w.add_scalars("group", {"a": step, "b": -step}, step)  # writes sub-folder writers
    w.close()
    ours = _ours(tmp_path)
    assert {t for t, _, _ in ours} == {"loss", "described"}
    assert sorted(ours) == sorted(_theirs(tmp_path))


def _tensor_event(tag, step, tensor, with_metadata, plugin="scalars"):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if with_metadata:
        value.metadata.plugin_data.plugin_name = plugin
        value.metadata.data_class = summary_pb2.DATA_CLASS_SCALAR if plugin == "scalars" else summary_pb2.DATA_CLASS_TENSOR
    return event_pb2.Event(wall_time=2000.0 + step, step=step, summary=summary_pb2.Summary(value=[value]))


def test_tf2_style_tensor_scalars_of_each_dtype_equal_event_accumulator_tensors(tmp_path):
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2

    scalar_shape = tensor_shape_pb2.TensorShapeProto()
    one = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)])

    def t(dtype, shape=scalar_shape, **kw):
        return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **kw)

    makers = {
        "f32_content": lambda v: t(types_pb2.DT_FLOAT, tensor_content=np.float32(v).tobytes()),
        "f32_val": lambda v: t(types_pb2.DT_FLOAT, float_val=[v]),
        "f64_content": lambda v: t(types_pb2.DT_DOUBLE, tensor_content=np.float64(v / 3).tobytes()),
        "f64_val": lambda v: t(types_pb2.DT_DOUBLE, double_val=[v / 3]),
        "f16_content": lambda v: t(types_pb2.DT_HALF, tensor_content=np.float16(v).tobytes()),
        "f16_val": lambda v: t(types_pb2.DT_HALF, half_val=[int(np.float16(v).view(np.uint16))]),
        "i32_val": lambda v: t(types_pb2.DT_INT32, int_val=[int(v) - 50]),
        "i64_val": lambda v: t(types_pb2.DT_INT64, int64_val=[int(v) * 10**12 - 7]),
        "i64_content": lambda v: t(types_pb2.DT_INT64, tensor_content=np.int64(-int(v)).tobytes()),
        "shape_one": lambda v: t(types_pb2.DT_FLOAT, shape=one, float_val=[v]),
    }
    events = []
    for step in range(0, 40, 3):
        for tag, make in makers.items():
            events.append(_tensor_event(tag, step, make(step * 1.25 - 9), with_metadata=(step == 0)))
        # not scalars: a text tensor, a histogram-shaped tensor, a 3-element tensor
        events.append(_tensor_event("notes", step, t(types_pb2.DT_STRING, string_val=[b"hi"]), step == 0, plugin="text"))
        events.append(_tensor_event("hist", step, t(types_pb2.DT_DOUBLE, shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1), tensor_shape_pb2.TensorShapeProto.Dim(size=3)]),
            double_val=[0.0, 1.0, 2.0]), step == 0, plugin="histograms"))
        events.append(_scalar_event("plain", step, float(step)))
    _write_events(tmp_path, events)
    ours = _ours(tmp_path)
    assert {t for t, _, _ in ours} == set(makers) | {"plain"}
    assert sorted(ours) == sorted(_theirs(tmp_path, tensor_tags=list(makers)))


def test_images_histograms_and_text_are_skipped_and_scalars_around_them_kept(tmp_path):
    w = _torch_writer(tmp_path)
    rng = np.random.default_rng(0)
    for step in range(5):
        w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_histogram("weights", rng.normal(size=1000), step)
        w.add_image("sample", rng.random((3, 8, 8)), step)
        w.add_text("note", f"step {step}", step)
        w.add_scalar("lr", 0.1 * step, step)
    w.close()
    ours = _ours(tmp_path)
    assert sorted({t for t, _, _ in ours}) == ["loss", "lr"]
    assert sorted(ours) == sorted(_theirs(tmp_path))


def test_event_with_several_values_and_negative_step_decode_like_event_accumulator(tmp_path):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    V = summary_pb2.Summary.Value
    events = [
        event_pb2.Event(wall_time=5.0, step=-3, summary=summary_pb2.Summary(value=[V(tag="a", simple_value=1.0), V(tag="b", simple_value=2.0)])),
        event_pb2.Event(wall_time=6.0, step=-2, summary=summary_pb2.Summary(value=[V(tag="a", simple_value=3.0)])),
        event_pb2.Event(wall_time=7.0, step=2**40, summary=summary_pb2.Summary(value=[V(tag="b", simple_value=4.0), V(tag="a", simple_value=5.0)])),
    ]
    _write_events(tmp_path, events)
    ours = _ours(tmp_path)
    assert ours == [("a", -3, _bits(1.0)), ("b", -3, _bits(2.0)), ("a", -2, _bits(3.0)), ("b", 2**40, _bits(4.0)), ("a", 2**40, _bits(5.0))]
    assert sorted(ours) == sorted(_theirs(tmp_path))


# -- streams: several files, restarts, split folders --------------------------------------------
def test_files_of_a_folder_are_read_in_wall_time_order_and_a_resume_is_a_restart(tmp_path):
    first = [_scalar_event("loss", s, 10.0 - s * 0.01, wall=100.0 + s) for s in range(0, 100)]
    resumed = [_scalar_event("loss", s, -1.0 * s, wall=500.0 + s) for s in range(80, 150)]
    # the resumed run's file sorts first by name: order must come from wall_time
    _write_events(tmp_path, resumed, name="events.out.tfevents.a_resumed")
    _write_events(tmp_path, first, name="events.out.tfevents.b_first")
    run = load_run(tmp_path)
    restarts = [e for e in run.events if e.kind == "restart"]
    assert [(e.step, Path(e.source).name) for e in restarts] == [(80, "events.out.tfevents.a_resumed")]
    loss = run.metric("loss")
    assert list(loss.index) == list(range(150))
    assert loss[79] == pytest.approx(10.0 - 0.79)
    assert loss[80] == -80.0 and loss[149] == -149.0  # the newest write of a step wins
    assert run.scalars["stream"].nunique() == 1
    # superseded rows are kept in write order, so the triples are EventAccumulator's too
    assert len(run.scalars) == 170
    assert sorted(_ours(tmp_path)) == sorted(_theirs(tmp_path))


def test_a_restart_inside_one_file_is_found_once_for_all_its_tags(tmp_path):
    w = _torch_writer(tmp_path)
    for s in list(range(0, 50)) + list(range(30, 60)):  # the trainer went back to step 30
        w.add_scalar("loss", float(s), s)
        w.add_scalar("grad_norm", float(s) / 2, s)
        if s % 10 == 0:
            w.add_scalar("val/loss", float(s), s)
    w.close()
    run = load_run(tmp_path)
    assert [(e.kind, e.step) for e in run.events] == [("restart", 30)]
    assert list(run.metric("loss").index) == list(range(60))
    assert run.metric("loss")[40] == 40.0 and len(run.scalars) == 80 * 2 + 5 + 3
    assert sorted(_ours(tmp_path)) == sorted(_theirs(tmp_path))


def test_steps_that_only_move_forward_are_not_restarts(tmp_path):
    w = _torch_writer(tmp_path)
    for s in range(0, 200):
        w.add_scalar("loss", 1.0, s)
        if s % 50 == 49:
            w.add_scalar("val_loss", 2.0, s)
    w.close()
    assert load_run(tmp_path).events == []


def test_writer_subfolders_named_for_a_split_prefix_the_tags(tmp_path):
    for split, value in (("train", 1.0), ("val", 2.0), ("validation", 3.0)):
        w = _torch_writer(tmp_path / "runs" / split)
        for s in range(10):
            w.add_scalar("loss", value + s, s)
            w.add_scalar("bpb" if split != "validation" else "validation_bpb", value, s)
        w.close()
    run = load_run(tmp_path)
    assert run.metric("loss").iloc[0] == 1.0
    assert run.metric("val_bpb").iloc[0] in (2.0, 3.0)
    assert set(run.scalars["tag"].astype(str)) == {
        "train/loss", "train/bpb", "val/loss", "val/bpb", "validation/loss", "validation_bpb"}
    assert run.scalars["stream"].nunique() == 3


# -- damaged input --------------------------------------------------------------------------
def _torch_file(folder, steps=20):
    w = _torch_writer(folder)
    for s in range(steps):
        w.add_scalar("loss", float(s), s)
    w.close()
    (path,) = _event_files(folder)
    return path


def _record_offsets(raw: bytes) -> list[int]:
    pos, out = 0, []
    while pos + 12 <= len(raw):
        out.append(pos)
        pos += 16 + struct.unpack_from("<Q", raw, pos)[0]
    return out


def test_truncated_last_record_is_read_up_to_it_with_a_warning(tmp_path):
    path = _torch_file(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-7])
    run = load_run(tmp_path)
    assert list(run.metric("loss").index) == list(range(19))
    assert [(e.kind, e.step) for e in run.events] == [("truncated", 18)]
    assert any("incomplete" in w.message and path.name in w.source for w in run.warnings)


def test_record_with_a_bad_crc_is_skipped_and_its_byte_offset_named(tmp_path):
    path = _torch_file(tmp_path)
    raw = bytearray(path.read_bytes())
    offset = _record_offsets(bytes(raw))[6]  # record 6 holds step 5
    raw[offset + 12 + 20] ^= 0x55
    path.write_bytes(bytes(raw))
    run = load_run(tmp_path)
    assert 5 not in run.metric("loss").index and len(run.metric("loss")) == 19
    (w,) = [w for w in run.warnings if "CRC" in w.message]
    assert f"byte {offset}" in w.message and path.name in w.source


def test_corrupt_length_stops_the_file_with_a_warning_and_keeps_what_came_before(tmp_path):
    path = _torch_file(tmp_path)
    raw = bytearray(path.read_bytes())
    offset = _record_offsets(bytes(raw))[11]
    raw[offset + 1] ^= 0x10
    path.write_bytes(bytes(raw))
    run = load_run(tmp_path)
    assert list(run.metric("loss").index) == list(range(10))
    assert any(f"corrupt record length at byte {offset}" in w.message for w in run.warnings)


def test_records_that_are_not_event_protos_are_skipped_with_their_offsets_named(tmp_path):
    from tensorboard.compat.proto import tensor_pb2, types_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    path = tmp_path / "events.out.tfevents.5.x"
    with open(path, "wb") as fh:
        w = RecordWriter(fh)
        for s in range(3):
            w.write(_scalar_event("loss", s, float(s)).SerializeToString())
        w.write(b"\x09\x01\x02")  # wall_time field cut short: not a protobuf message
        # a float tensor whose content is 3 bytes: decodes, but is no scalar
        w.write(_tensor_event("odd", 3, tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"abc"), True).SerializeToString())
        for s in range(3, 6):
            w.write(_scalar_event("loss", s, float(s)).SerializeToString())
    run = load_run(tmp_path)
    assert list(run.metric("loss").index) == list(range(6))
    assert "odd" not in run.metric_names()
    offset = _record_offsets(path.read_bytes())[3]
    (w,) = run.warnings
    assert "not readable Event protos" in w.message and f"byte {offset}" in w.message


def test_empty_and_foreign_files_named_like_event_files_are_warnings_and_the_run_loads(tmp_path):
    good = tmp_path / "good"
    _torch_file(good)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "events.out.tfevents.1.x").write_bytes(b"")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "events.out.tfevents.2.x").write_text("this is a text file, not a TFRecord\n" * 10)
    run = load_run(tmp_path)
    assert len(run.metric("loss")) == 20
    messages = {w.source: w.message for w in run.warnings}
    assert "events.out.tfevents.1.x: empty event file" in messages["empty"]
    assert "events.out.tfevents.2.x: not a TensorBoard event file" in messages["foreign"]
    assert run.files and all(f.startswith("good") for f in run.files)


def test_a_foreign_file_next_to_a_good_one_in_the_same_folder_is_a_warning_naming_it(tmp_path):
    _torch_file(tmp_path)
    foreign = tmp_path / "events.out.tfevents.9999999999.x"
    foreign.write_bytes(os.urandom(500))
    run = load_run(tmp_path)
    assert len(run.metric("loss")) == 20
    assert [Path(w.source).name for w in run.warnings] == [foreign.name]


def test_a_folder_whose_only_event_file_is_foreign_raises_an_input_error_naming_it(tmp_path):
    path = tmp_path / "events.out.tfevents.3.x"
    path.write_bytes(os.urandom(300))
    with pytest.raises(InputError) as err:
        tensorboard.read_folder(tmp_path, [path])
    assert path.name in str(err.value)


def test_reading_writes_nothing_into_the_run_folder(tmp_path):
    _torch_file(tmp_path)
    before = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*"))
    time.sleep(0.01)
    load_run(tmp_path)
    assert sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in tmp_path.rglob("*")) == before
