"""Learners: pure tensors-in, metrics-out agents (SAC/RLPD, discrete SAC, IQL)."""
