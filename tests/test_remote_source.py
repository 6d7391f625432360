"""Runs in object storage: a real S3-compatible server (moto's server mode) on localhost."""
import shutil
from pathlib import Path

import pandas as pd
import pytest

from hnet_diag import load_run
from hnet_diag.errors import InputError
from hnet_diag.sources import remote

pytest.importorskip("s3fs")
boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

RUN = Path(__file__).resolve().parents[1] / "fixtures" / "runs" / "healthy"


@pytest.fixture
def s3(monkeypatch):
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", endpoint),
                       ("FSSPEC_S3_ENDPOINT_URL", endpoint)):
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import fsspec

    fsspec.config.conf.setdefault("s3", {})["endpoint_url"] = endpoint
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="runs")
    yield client
    fsspec.config.conf.get("s3", {}).pop("endpoint_url", None)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def _upload(client, folder, prefix):
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(f), "runs", f"{prefix}/{f.relative_to(folder).as_posix()}")


def _objects(client):
    return sorted((o["Key"], o["ETag"], o["LastModified"]) for o in client.list_objects_v2(Bucket="runs").get("Contents", []))


def test_s3_run_reads_like_the_local_one_and_writes_nothing(s3, tmp_path):
    local = tmp_path / "exp1"
    shutil.copytree(RUN, local)
    (local / "media").mkdir()
    (local / "media" / "sample.mp4").write_bytes(b"\0" * 1000)  # read by no source: not downloaded
    _upload(s3, local, "team/exp1")
    before = _objects(s3)

    rels, single = remote.fetch("s3://runs/team/exp1", tmp_path / "copy")
    assert not single and "media/sample.mp4" not in rels and "metrics.jsonl" in rels

    there, here = load_run("s3://runs/team/exp1"), load_run(local)
    assert sorted(there.files) == sorted(here.files)
    cols = ["metric", "step", "value", "stream"]
    pd.testing.assert_frame_equal(there.scalars[cols].reset_index(drop=True), here.scalars[cols].reset_index(drop=True))
    assert there.training == here.training
    assert [c.path for c in there.checkpoints] == ["s3://runs/team/exp1/checkpoints/step_000300.pt"]
    assert [t.l2_norm for t in there.checkpoints[0].tensors] == [t.l2_norm for t in here.checkpoints[0].tensors]
    assert _objects(s3) == before, "nothing is written to the remote"


def test_single_remote_file(s3):
    s3.upload_file(str(RUN / "metrics.jsonl"), "runs", "solo/metrics.jsonl")
    run = load_run("s3://runs/solo/metrics.jsonl")
    assert run.files == ["metrics.jsonl"] and run.has_metric("loss")


def test_missing_remote_path_is_one_line(s3):
    with pytest.raises(InputError) as err:
        load_run("s3://runs/nothing/here")
    assert "s3://runs/nothing/here" in str(err.value) and "\n" not in str(err.value)


def test_unknown_protocol_is_one_line():
    with pytest.raises(InputError, match="cannot open this kind of remote path"):
        load_run("nosuchproto://bucket/run")


def test_cli_analyze_takes_an_s3_url(s3, tmp_path, capsys):
    from hnet_diag.cli import main

    s3.upload_file(str(RUN / "metrics.jsonl"), "runs", "cli/metrics.jsonl")
    out = tmp_path / "report.json"
    assert main(["analyze", "s3://runs/cli", "-o", str(out)]) == 0
    assert out.is_file()
