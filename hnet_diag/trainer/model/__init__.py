"""The reference H-Net model in plain PyTorch (importing this package imports torch).

    from hnet_diag.trainer.config import HNetConfig
    from hnet_diag.trainer.model import HNetLM, stepwise_logits

    model = HNetLM(HNetConfig.from_json("hnet_2stage_tiny.json"))
    out = model(input_ids)                 # out.logits [B, L, 256], out.stages[s].ratio_loss(N)
    cache = model.allocate_inference_cache(batch_size, max_len)
    logits = model.step(next_bytes, cache)  # [B, 256], one byte per sequence

Modules: mamba2.py (Mamba-2 mixer, chunked SSD scan), attention.py (windowed causal
attention, rotary), blocks.py (residual blocks, stacks), routing.py (dynamic chunking and the
ratio loss), hnet.py (the nested stages and the LM), scan.py (the shared parallel recurrence).
"""
from .hnet import HNetCache, HNetLM, HNetOutput, HNetStage, stage_of_param, stepwise_logits
from .routing import RoutingStats, ratio_loss

__all__ = [
    "HNetCache", "HNetLM", "HNetOutput", "HNetStage", "RoutingStats", "ratio_loss",
    "stage_of_param", "stepwise_logits",
]
