"""TFRecord framing and CRC: the vectorised reader must agree with a plain one, record for record."""
import random
import struct

import google_crc32c
import numpy as np
import pytest

from hnet_diag.sources import tfrecord


def _write_records(path, payloads):
    """Records written by tensorboard's own RecordWriter (its masked CRC, its framing)."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    with open(path, "wb") as fh:
        writer = RecordWriter(fh)
        for p in payloads:
            writer.write(p)
        writer.flush()


def _plain_offsets(raw: bytes) -> list[int]:
    pos, out = 0, []
    while pos + 12 <= len(raw):
        (n,) = struct.unpack_from("<Q", raw, pos)
        if pos + 16 + n > len(raw):
            break
        out.append(pos)
        pos += 16 + n
    return out


def _framing(path):
    buf, size = tfrecord.read_padded(path)
    return tfrecord.frame(buf, size)


def _event_like(rng: random.Random, n: int) -> bytes:
    return b"\x09" + bytes(rng.randrange(256) for _ in range(n - 1))


def test_vectorised_crc_equals_google_crc32c_for_every_length_up_to_300():
    rng = np.random.default_rng(0)
    lengths = np.arange(0, 301)
    raw = rng.integers(0, 256, size=int(lengths.sum()) + 4 * len(lengths) + 64, dtype=np.uint8)
    buf = np.zeros(tfrecord.FRONT_PAD + raw.size + tfrecord.BACK_PAD, dtype=np.uint8)
    buf[tfrecord.FRONT_PAD:tfrecord.FRONT_PAD + raw.size] = raw
    starts = tfrecord.FRONT_PAD + np.concatenate([[0], np.cumsum(lengths[:-1] + 4)])
    # store the right masked CRC after each piece, except every 7th one
    for s, n in zip(starts.tolist(), lengths.tolist()):
        crc = tfrecord.masked_crc32c(buf[s:s + n].tobytes())
        if n % 7 == 3:
            crc ^= 1
        buf[s + n:s + n + 4] = np.frombuffer(struct.pack("<I", crc), dtype=np.uint8)
    ok = tfrecord.data_crc_ok(buf, starts, lengths)
    assert ok.tolist() == [n % 7 != 3 for n in lengths.tolist()]


def test_masked_crc_is_the_one_tensorboard_writes():
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    for data in (b"", b"\x09", b"hello world" * 13):
        assert tfrecord.masked_crc32c(data) == masked_crc32c(data)
    assert google_crc32c.value(b"123456789") == 0xE3069283  # the CRC32C check value


def test_framing_finds_the_records_a_plain_reader_finds_with_mixed_records(tmp_path):
    rng = random.Random(1)
    payloads = []
    for i in range(400):
        kind = i % 5
        if kind == 0:
            payloads.append(_event_like(rng, rng.randrange(20, 90)))
        elif kind == 1:  # does not start like an Event: only the plain path sees it
            payloads.append(b"\x1a" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))))
        elif kind == 2:  # longer than the vectorised CRC and than the 64 KiB header scan
            payloads.append(_event_like(rng, rng.choice([300, 70_000])))
        elif kind == 3:  # data that contains a complete, valid-looking record header
            fake = struct.pack("<Q", 30) + struct.pack("<I", tfrecord.masked_crc32c(struct.pack("<Q", 30)))
            payloads.append(b"\x09" + bytes(3) + fake + b"\x09" + bytes(rng.randrange(256) for _ in range(40)))
        else:
            payloads.append(b"")
    path = tmp_path / "records"
    _write_records(path, payloads)
    fr = _framing(path)
    assert fr.header_offset.tolist() == _plain_offsets(path.read_bytes())
    assert fr.length.tolist() == [len(p) for p in payloads]
    assert fr.crc_ok.all()
    assert fr.stop is None


@pytest.mark.parametrize("cut", [1, 5, 13, 20])
def test_truncated_last_record_stops_reading_with_every_earlier_record_found(tmp_path, cut):
    rng = random.Random(2)
    payloads = [_event_like(rng, 40) for _ in range(50)]
    path = tmp_path / "records"
    _write_records(path, payloads)
    raw = path.read_bytes()
    path.write_bytes(raw[:-cut])
    fr = _framing(path)
    assert fr.length.size == 49
    assert fr.stop == "truncated"
    assert fr.stop_offset == _plain_offsets(raw)[-1]


def test_corrupt_length_stops_reading_at_that_record(tmp_path):
    rng = random.Random(3)
    payloads = [_event_like(rng, 40) for _ in range(30)]
    path = tmp_path / "records"
    _write_records(path, payloads)
    raw = bytearray(path.read_bytes())
    bad = _plain_offsets(bytes(raw))[10]
    raw[bad] ^= 0x04  # the length changes, its CRC no longer matches
    path.write_bytes(bytes(raw))
    fr = _framing(path)
    assert fr.length.size == 10
    assert (fr.stop, fr.stop_offset) == ("corrupt_length", bad)


def test_bad_data_crc_marks_only_that_record(tmp_path):
    rng = random.Random(4)
    payloads = [_event_like(rng, 60) for _ in range(30)] + [_event_like(rng, 1000)]
    path = tmp_path / "records"
    _write_records(path, payloads)
    raw = bytearray(path.read_bytes())
    offsets = _plain_offsets(bytes(raw))
    raw[offsets[7] + 12 + 30] ^= 0xFF  # a data byte of record 7
    raw[offsets[30] + 12 + 500] ^= 0x01  # a data byte of the long record
    path.write_bytes(bytes(raw))
    fr = _framing(path)
    assert fr.header_offset.tolist() == offsets
    assert np.flatnonzero(~fr.crc_ok).tolist() == [7, 30]


def test_a_file_of_empty_records_frames_with_valid_crcs(tmp_path):
    path = tmp_path / "records"
    _write_records(path, [b""] * 5)
    fr = _framing(path)
    assert fr.length.tolist() == [0] * 5
    assert fr.crc_ok.all() and fr.stop is None
