"""Judging a run while it trains: the watch loop's parts, and the in-process Monitor.

    store.py    ScalarStore: the run's scalars as growing columns (append is O(new rows))
    follow.py   RunFollower: polls a run folder with the resumable tails of sources/tail.py
    judge.py    LiveJudge: the rule engine of `analyze` on the current data, new/cleared findings
    monitor.py  Monitor: a training loop feeds it metrics and gets back new findings
    hf.py       a transformers TrainerCallback (optional dependency)
    lightning.py a Lightning Callback (optional dependency)
"""
