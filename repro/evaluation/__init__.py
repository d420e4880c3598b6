"""Scoring depth: the metrics and alignment protocols, the seam metric, evaluation of a model on a
test split, and prediction on new panoramas. Knows no trainer and no suite: both call into it."""
