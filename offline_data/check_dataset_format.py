#!/usr/bin/env python3
"""Thin shim: `python offline_data/check_dataset_format.py --dataset_path FILE [--env TASK]`."""

import sys

from maq.cli import main

if __name__ == "__main__":
    sys.exit(main(["check-dataset", *sys.argv[1:]]))
