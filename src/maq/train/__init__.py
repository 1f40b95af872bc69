"""Training loops: online (SAC family), offline-to-online (IQL family), SB3 SAC."""
