"""Advice as data: recommended changes (`Action`) and each trainer's words for them."""
from .actions import SETTINGS, Action
from .vocabulary import Advice, advise, bundled_flags, neutral

__all__ = ["Action", "Advice", "SETTINGS", "advise", "bundled_flags", "neutral"]
