"""The replication table: one row per headline claim of the five papers (``config/replication.yaml``) with the
paper's number and its source, our number computed from this scale's result files, and a verdict computed from
the claim's criterion.

A claim names its inputs as ``values``: each reads one result file under ``results/<scale>/`` (a CSV table, or
a JSON file flattened with dotted keys, optionally at a list of ``records``), keeps the rows whose columns equal
``where`` (a value, a list of allowed values, or a ``{min, max}`` range), and reduces one ``column`` over them
(mean, min, max, sum, count). The verdict evaluates ``measure`` (arithmetic over the values: + − × ÷, abs, min,
max, sqrt) and compares it with the thresholds of ``reproduced`` and ``partly`` (e.g. ``">= 0.975"``):

    verdict = reproduced if measure ⊙ r, partly if measure ⊙ p, not reproduced otherwise;

a claim whose ``scales`` exclude this scale, or whose rows do not exist in this scale's results, is "not run at
this scale".
"""

import ast
import json
import math
import operator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

VERDICTS = ("reproduced", "partly", "not reproduced", "not run at this scale")
REDUCERS = ("mean", "min", "max", "sum", "count")
_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_FUNCTIONS = {"abs": abs, "min": min, "max": max, "sqrt": math.sqrt}
_CLAIM_KEYS = {"id", "paper", "claim", "paper_value", "source", "values", "ours", "measure", "reproduced", "partly"}
_OPTIONAL_KEYS = {"scales", "note"}
_VALUE_KEYS = {"file", "column"}
_OPTIONAL_VALUE_KEYS = {"where", "reduce", "records"}


class ClaimError(ValueError):
    """A claim in the replication config that cannot be evaluated as written."""


@dataclass(frozen=True)
class Row:
    """One row of the table."""

    id: str
    paper: str
    claim: str
    paper_value: str
    source: str
    ours: str
    files: tuple[str, ...]
    verdict: str
    note: str


def load_claims(path: Path) -> dict:
    """``{"papers": {key: citation}, "claims": [claim, ...]}`` from the YAML file, each claim checked."""
    config = yaml.safe_load(Path(path).read_text())
    if not isinstance(config, dict) or not {"papers", "claims"} <= set(config):
        raise ClaimError(f"{path}: needs the mappings 'papers' and 'claims'")
    ids = set()
    for claim in config["claims"]:
        check_claim(claim, config["papers"])
        if claim["id"] in ids:
            raise ClaimError(f"{path}: claim id {claim['id']!r} appears twice")
        ids.add(claim["id"])
    return config


def check_claim(claim: dict, papers: dict) -> None:
    """Refuse a claim with missing or unknown keys, an unknown paper, reducer or threshold, or a measure that names
    something other than its values."""
    name = claim.get("id", "<claim without id>")
    missing, unknown = _CLAIM_KEYS - set(claim), set(claim) - _CLAIM_KEYS - _OPTIONAL_KEYS
    if missing or unknown:
        raise ClaimError(f"claim {name}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    if claim["paper"] not in papers:
        raise ClaimError(f"claim {name}: paper {claim['paper']!r} is not one of {sorted(papers)}")
    for value_name, spec in claim["values"].items():
        missing, unknown = _VALUE_KEYS - set(spec), set(spec) - _VALUE_KEYS - _OPTIONAL_VALUE_KEYS
        if missing or unknown:
            raise ClaimError(f"claim {name}, value {value_name}: missing {sorted(missing)}, unknown {sorted(unknown)}")
        if spec.get("reduce", "mean") not in REDUCERS:
            raise ClaimError(f"claim {name}, value {value_name}: reduce must be one of {REDUCERS}")
    for key in ("reproduced", "partly"):
        _threshold(claim[key], f"claim {name}, {key}")
    try:
        evaluate(claim["measure"], {v: 1.0 for v in claim["values"]})
        claim["ours"].format(**{v: 1.0 for v in claim["values"]})
    except (KeyError, IndexError, ValueError, SyntaxError) as err:
        raise ClaimError(f"claim {name}: measure or ours does not fit its values ({err})") from err


def _threshold(text: str, where: str) -> tuple[str, float]:
    op, _, number = str(text).partition(" ")
    if op not in _COMPARE:
        raise ClaimError(f"{where}: {text!r} is not '<op> <number>' with op one of {sorted(_COMPARE)}")
    try:
        return op, float(number)
    except ValueError:
        raise ClaimError(f"{where}: {number!r} is not a number") from None


def evaluate(expression: str, values: dict[str, float]) -> float:
    """Arithmetic over named values (+, −, ×, ÷, unary −, abs, min, max, sqrt); nothing else is allowed."""

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise KeyError(f"{node.id!r} is not a value of this claim")
            return float(values[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return _ARITHMETIC[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
            return _FUNCTIONS[node.func.id](*(walk(a) for a in node.args))
        raise ValueError(f"{ast.unparse(node)!r} is not allowed in a measure")

    return walk(ast.parse(str(expression), mode="eval"))


def read_table(path: Path, records: str | None = None) -> pd.DataFrame:
    """A CSV file, or a JSON file flattened with dotted keys (at its list ``records`` when given)."""
    if path.suffix == ".csv":
        return pd.read_csv(path)
    obj = json.loads(path.read_text())
    return pd.json_normalize(obj[records] if records else obj)


def read_value(root: Path, spec: dict) -> float | None:
    """The reduced column of the rows of ``spec['file']`` that match ``spec['where']``; None when the file or the
    rows do not exist."""
    path = root / spec["file"]
    if not path.exists():
        return None
    table = read_table(path, spec.get("records"))
    for column, allowed in spec.get("where", {}).items():
        table = table[_matches(_column(table, column, path), allowed)]
    column = _column(table, spec["column"], path).dropna()
    if column.empty:
        return None
    return float(getattr(column, spec.get("reduce", "mean"))())


def _column(table: pd.DataFrame, name: str, path: Path) -> pd.Series:
    if name not in table:
        raise ClaimError(f"{path}: no column {name!r} (columns: {', '.join(map(str, table.columns))})")
    return table[name]


def _matches(column: pd.Series, allowed) -> pd.Series:
    """Rows whose entry equals ``allowed`` (a value or a list of values) or lies in ``{min, max}`` (inclusive)."""
    if isinstance(allowed, dict):
        low, high = allowed.get("min", -math.inf), allowed.get("max", math.inf)
        return (column >= low) & (column <= high)
    return column.isin(allowed if isinstance(allowed, list) else [allowed])


def verdict(measure: float, claim: dict) -> str:
    for key in ("reproduced", "partly"):
        op, bound = _threshold(claim[key], key)
        if _COMPARE[op](measure, bound):
            return key
    return "not reproduced"


def evaluate_claim(claim: dict, root: Path, scale: str) -> Row:
    """The claim's row at ``scale`` from the result files under ``root`` (``results/<scale>``)."""
    files = tuple(sorted({spec["file"] for spec in claim["values"].values()}))
    row = {k: claim[k] for k in ("id", "paper", "claim", "paper_value", "source")}
    note = claim.get("note", "").strip()
    if not _runs_at(claim, scale):
        return Row(**row, ours="–", files=(), verdict="not run at this scale", note=note)
    values = {name: read_value(root, spec) for name, spec in claim["values"].items()}
    absent = sorted(name for name, value in values.items() if value is None)
    if absent:
        return Row(
            **row, ours=f"no result ({', '.join(absent)})", files=files, verdict="not run at this scale", note=note
        )
    measure = evaluate(claim["measure"], values)
    return Row(**row, ours=claim["ours"].format(**values), files=files, verdict=verdict(measure, claim), note=note)


def claim_files(config: dict, scale: str) -> list[str]:
    """The result files (relative to ``results/<scale>``) that the claims run at ``scale`` read."""
    active = [c for c in config["claims"] if _runs_at(c, scale)]
    return sorted({spec["file"] for c in active for spec in c["values"].values()})


def _runs_at(claim: dict, scale: str) -> bool:
    """Whether the claim is evaluated at ``scale`` (every scale unless it lists ``scales``)."""
    return scale in claim.get("scales", [scale])


def table(config: dict, root: Path, scale: str) -> list[Row]:
    return [evaluate_claim(claim, Path(root), scale) for claim in config["claims"]]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _markdown_row(cells) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def paper_table(rows: list[Row], paper: str) -> str:
    """The rows of one paper as a Markdown table: claim, the paper's number (source), ours (files), verdict, note."""
    lines = ["| claim | paper | ours | verdict | note |", "|---|---|---|---|---|"]
    for r in (r for r in rows if r.paper == paper):
        ours = r.ours + (f" ({', '.join(f'`{f}`' for f in r.files)})" if r.files else "")
        lines.append(_markdown_row((r.claim, f"{r.paper_value} ({r.source})", ours, f"**{r.verdict}**", r.note)))
    return "\n".join(lines)


def markdown(rows: list[Row], config: dict, scale: str) -> str:
    """The whole table as Markdown: the tally of verdicts, then one table per paper."""
    parts = [f"# Replication at the `{scale}` scale", "", _tally(rows, scale)]
    for paper, citation in config["papers"].items():
        parts += ["", f"## {citation}", "", paper_table(rows, paper)]
    return "\n".join(parts) + "\n"


def _tally(rows: list[Row], scale: str) -> str:
    counts = ", ".join(f"{sum(r.verdict == v for r in rows)} {v}" for v in VERDICTS)
    return f"{len(rows)} claims at the `{scale}` scale: {counts}."


def frame(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame([{**r.__dict__, "files": " ".join(r.files)} for r in rows])


def overview(rows: list[Row], scale: str) -> str:
    """The front-page table: the tally, then paper, claim, the paper's number, ours and the verdict per row."""
    lines = [_tally(rows, scale), ""]
    lines += ["| paper | claim | paper's number | ours | verdict |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(_markdown_row((r.paper, r.claim, r.paper_value, r.ours, f"**{r.verdict}**")))
    return "\n".join(lines)


def splice(text: str, blocks: dict[str, str]) -> tuple[str, list[str]]:
    """``text`` with the lines between ``<!-- replication:NAME -->`` and ``<!-- /replication:NAME -->`` replaced
    by ``blocks[NAME]`` for each block whose markers it holds, and the names it replaced."""
    done = []
    for name, block in blocks.items():
        begin, end = f"<!-- replication:{name} -->", f"<!-- /replication:{name} -->"
        head, found, rest = text.partition(begin + "\n")
        _, found_end, tail = rest.partition(end)
        if found and found_end:
            text = f"{head}{begin}\n{block.rstrip()}\n{end}{tail}"
            done.append(name)
    return text, done


def splice_files(texts: dict[Path, str], blocks: dict[str, str]) -> dict[Path, str]:
    """Each file's text with the blocks it holds replaced (:func:`splice`); ClaimError naming a block that no file
    holds, or that two files hold."""
    spliced, where = {}, {}
    for path, text in texts.items():
        spliced[path], done = splice(text, blocks)
        for name in done:
            if name in where:
                raise ClaimError(f"the block {name} is in both {where[name]} and {path}")
            where[name] = path
    missing = [name for name in blocks if name not in where]
    if missing:
        raise ClaimError(
            f"no file holds the markers <!-- replication:NAME --> and <!-- /replication:NAME --> of {missing}"
        )
    return spliced


def readme_blocks(rows: list[Row], config: dict, scale: str) -> dict[str, str]:
    """The generated blocks: ``overview`` (the front page) and one full table per paper (its study's README)."""
    return {"overview": overview(rows, scale), **{p: paper_table(rows, p) for p in config["papers"]}}


def write(claims_path: Path, root: Path, scale: str, output) -> None:
    """The replication table of ``scale`` from the results under ``root``: ``output.markdown``, ``output.table``
    (CSV) and ``output.html`` (the report's section)."""
    from spikegrad.results import write_text  # here, not at the top: the rules import this module to build the DAG

    claims = load_claims(Path(claims_path))
    rows = table(claims, Path(root), scale)
    write_text(output.markdown, markdown(rows, claims, scale))
    tidy = frame(rows)
    write_text(output.table, tidy.to_csv(index=False))
    write_text(output.html, tidy.to_html(index=False, border=0))


def main(argv: list[str] | None = None) -> int:
    """``python -m spikegrad.replication --results results/quick --readme README.md lib/spikegrad/studies/*/README.md``:
    evaluate the claims on a finished reproduction and rewrite the generated blocks of those files (the only place
    their numbers come from): the overview on the front page, each paper's table in its study's README."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m spikegrad.replication", description=main.__doc__)
    parser.add_argument("--results", type=Path, required=True, help="results/<scale> of a finished reproduction")
    parser.add_argument("--claims", type=Path, default=Path("config/replication.yaml"))
    parser.add_argument("--readme", type=Path, nargs="+", default=[Path("README.md")], help="files with the blocks")
    args = parser.parse_args(argv)
    scale = args.results.name
    try:
        config = load_claims(args.claims)
        if not args.results.is_dir():
            raise ClaimError(f"{args.results}: no such results folder (run `make reproduce` first)")
        rows = table(config, args.results, scale)
        texts = splice_files({path: path.read_text() for path in args.readme}, readme_blocks(rows, config, scale))
    except (ClaimError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from spikegrad.results import write_text  # atomic: a failed write leaves the old file

    for path, text in texts.items():
        write_text(path, text)
    print(f"{len(rows)} claims at the {scale} scale written to {', '.join(map(str, texts))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
