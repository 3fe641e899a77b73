"""Command line: ``python -m spikegrad.data prepare NAME --root DIR`` writes every split of a dataset.

Prints one line per written file; a bad dataset name exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import sys

from .registry import DATASETS, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spikegrad.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="generate all splits of a dataset and save them as HDF5")
    prep.add_argument("name", help=f"dataset: {', '.join(sorted(DATASETS))}")
    prep.add_argument("--root", required=True, help="folder; files go to ROOT/NAME/SPLIT.h5")
    args = parser.parse_args(argv)
    try:
        paths = prepare(args.name, args.root)
    except ValueError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
