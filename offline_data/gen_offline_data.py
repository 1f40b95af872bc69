#!/usr/bin/env python3
"""Thin shim: `python offline_data/gen_offline_data.py --env TASK --seed S [--source ...]`."""

import sys
from pathlib import Path

from maq.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out_dir" not in args:  # files land next to this script, wherever it is called from
        args += ["--out_dir", str(Path(__file__).resolve().parent)]
    sys.exit(main(["gen-data", *args]))
