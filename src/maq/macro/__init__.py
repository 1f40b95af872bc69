"""MAQ's macro actions: the VQ-VAE, the code prior, macro execution, relabelling and distillation.

Stage 1 of MAQ (docs/reference-spec.md §3-4): :mod:`maq.macro.distill` trains a conditional VQ-VAE
over
L-step human action windows (and the code prior); :mod:`maq.macro.env` and
:mod:`maq.macro.adapter` execute codes as L primitive actions; :mod:`maq.macro.relabel` turns human
trajectories into macro transitions for the learners.
"""
