"""Training throughput (bytes/s) of the tiny 2-stage H-Net against the plain tiny Transformer.

Claim measured: how much the dynamic-chunking machinery (Mamba-2 encoders/decoders in plain
PyTorch, routing, chunk/dechunk) costs per byte next to a Transformer of similar size, on this
machine. One "step" is what the trainer does per batch: forward, cross-entropy + ratio loss,
backward, AdamW step. Warm-up steps are not timed; the median of the timed steps is reported
because the shared CPU is noisy.

    python benchmarks/bench_trainer_throughput.py [--steps 10] [--batch-size 8] [--seq-len 256] [--threads N]
"""
from __future__ import annotations

import argparse
import statistics
import time


def measure(config_name: str, steps: int, warmup: int, batch_size: int, seq_len: int, device: str) -> dict:
    import torch
    import torch.nn.functional as F

    from hnet_diag.trainer.train import DEFAULT_TARGET_COMPRESSION, model_api, resolve_model_config_path

    HNetConfig, HNetLM = model_api()
    cfg = HNetConfig.from_json(resolve_model_config_path(config_name))
    torch.manual_seed(0)
    model = HNetLM(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    targets = DEFAULT_TARGET_COMPRESSION.get(cfg.num_stages, (3.0,) * cfg.num_stages)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch_size, seq_len + 1), generator=g).to(device)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        out = model(x[:, :-1])
        loss = F.cross_entropy(out.logits.reshape(-1, 256).float(), x[:, 1:].reshape(-1))
        for s, n in zip(out.stages, targets):
            loss = loss + 0.03 * s.ratio_loss(n)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {
        "config": config_name,
        "params": sum(p.numel() for p in model.parameters()),
        "stages": cfg.num_stages,
        "median_step_s": med,
        "bytes_per_s": batch_size * seq_len / med,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--configs", default="hnet_2stage_tiny,transformer_tiny")
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, batch {args.batch_size} x {args.seq_len} bytes")
    rows = [measure(c, args.steps, args.warmup, args.batch_size, args.seq_len, args.device) for c in args.configs.split(",")]
    print(f"{'config':<20} {'params':>10} {'stages':>6} {'median s/step':>14} {'bytes/s':>10}")
    for r in rows:
        print(f"{r['config']:<20} {r['params']:>10,} {r['stages']:>6} {r['median_step_s']:>14.3f} {r['bytes_per_s']:>10.0f}")
    if len(rows) >= 2:
        print(f"{rows[0]['config']} runs at {rows[0]['bytes_per_s'] / rows[1]['bytes_per_s']:.2f}x the bytes/s of {rows[1]['config']}")


if __name__ == "__main__":
    main()
