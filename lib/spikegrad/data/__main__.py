"""Command line: ``python -m spikegrad.data prepare|download NAME --root DIR``.

``prepare`` builds an embedded dataset (no network); ``download`` fetches a published one. Prints one line per
written file; bad input or a missing network exits with status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import json
import sys

from .cochlea import CochleaParams
from .registry import DATASETS, download, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spikegrad.data", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command, help_text in (("prepare", "build all splits of an embedded dataset as HDF5"),
                               ("download", "fetch a published dataset")):  # fmt: skip
        sub = commands.add_parser(command, help=help_text)
        sub.add_argument("name", help=f"dataset: {', '.join(DATASETS)}")
        sub.add_argument("--root", required=True, help="data folder (e.g. data/quick)")
        if command == "prepare":
            sub.add_argument("--sizes", type=json.loads, help='spoken sets: {"train": [speakers, repeats], ...}')
            sub.add_argument("--lauscher", action="store_true", help="spoken sets: reference cochlea (very slow)")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            options = {"sizes": args.sizes} if args.sizes else {}
            if args.lauscher:
                options["cochlea_params"] = CochleaParams(model="lauscher")
            paths = prepare(args.name, args.root, **options)
        else:
            paths = download(args.name, args.root)
    except (ValueError, OSError) as e:  # also DataError (missing network, corrupt or missing files), unwritable root
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
