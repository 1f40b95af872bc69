"""maq: human-like RL agents through trajectory optimization with action quantization.

A reproduction and extension of Guo et al., "Learning Human-Like RL Agents Through Trajectory
Optimization With Action Quantization" (NeurIPS 2025). See README.md and docs/.
"""

__version__ = "0.1.0"
