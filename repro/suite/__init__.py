"""Suites: one YAML per paper table, run cell by cell and diffed against the paper.

``schema`` (suite files and cells), ``expected`` (the paper's numbers, tolerances, acceptance
tests), ``runner`` (masks → train → eval → diff per cell, with caching, resume and shards),
``executor`` (the interface to the trainer and evaluator), ``report`` (terminal, Markdown, JSON,
PNG), ``vram`` (torch and NVML peaks per stage), ``provenance`` (what produced each result).
"""
