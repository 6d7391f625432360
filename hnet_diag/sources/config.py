"""Run configs (JSON, YAML) and the typed settings drawn from them.

Placeholder version: parses JSON/YAML mappings and maps a few common keys. The full
version (argparse dumps, official H-Net configs, generation configs) replaces it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..run import CheckpointSummary, GenerationSettings, ModelSettings, TrainingSettings
from .base import SourceData


def read(path: Path) -> SourceData:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        if path.suffix == ".json":
            obj = json.loads(text)
        else:
            import yaml

            obj = yaml.safe_load(text)
    except Exception as err:  # noqa: BLE001 - any parse error is "malformed"
        raise InputError(path, f"malformed {path.suffix[1:].upper()} ({str(err).splitlines()[0]})") from err
    if not isinstance(obj, dict):
        raise InputError(path, "config is not a mapping")
    data = SourceData()
    data.configs[str(path)] = obj
    return data


def settings_from_configs(
    configs: dict[str, dict[str, Any]], checkpoints: list[CheckpointSummary]
) -> tuple[TrainingSettings, ModelSettings, GenerationSettings | None]:
    return TrainingSettings(), ModelSettings(), None
