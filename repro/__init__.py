"""repro: a reproducibility suite for *Depth Anywhere* (NeurIPS 2024).

Subpackages are named for what they do: ``geometry`` (sphere <-> cube/tangent, rotation),
``losses``, ``metrics``, ``data``, ``models``, ``teacher``, ``masks``, ``distill``, ``train``,
``suite``. Heavy imports (torch, transformers) stay inside them so ``repro --help`` is instant.
"""

__version__ = "0.1.0"
