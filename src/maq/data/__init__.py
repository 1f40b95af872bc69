"""Human data: the seed's ``.pkl`` trajectory format, its sources and the paper's split."""

from maq.data.format import (
    OPTIONAL_KEYS,
    REQUIRED_KEYS,
    Trajectory,
    check_trajectories,
    load_trajectories,
    save_trajectories,
)

__all__ = [
    "OPTIONAL_KEYS",
    "REQUIRED_KEYS",
    "Trajectory",
    "check_trajectories",
    "load_trajectories",
    "save_trajectories",
]
