"""Run one parameterised notebook with papermill, strictly:

    python -m spikegrad.notebook notebooks/train.ipynb out.ipynb -p lr 0.01 -y '{"epochs": 3}'

- a parameter the notebook's ``parameters`` cell does not assign is refused before any kernel starts (plain
  papermill only warns and runs with the default), and so is a file that is not a valid notebook;
- a notebook without kernel metadata runs on the ``python3`` kernel;
- the executed notebook appears at OUTPUT only when every cell ran: it is written to a temporary file beside it
  and renamed at the end, so a killed or failed run never leaves an OUTPUT that looks complete;
- a cell that raises gives one line, ``error: <notebook>: <Exception>: <message>``, and exit status 1; the executed
  notebook with the full traceback is kept as ``<OUTPUT stem>.failed.ipynb``.

``-p NAME VALUE`` values are read as YAML scalars or lists (``0.01``, ``true``, ``null``, ``[1, 2]``; anything else
is a string); ``-y`` takes a YAML/JSON mapping. Later options override earlier ones.
"""

import argparse
import ast
import difflib
import os
import sys
from pathlib import Path

import nbformat  # spikegrad/__init__ has made its import skip jsonschema's IRI grammar (0.8 s)
import yaml


class NotebookError(ValueError):
    """A notebook that cannot be run as asked; the message names the notebook."""


def read_notebook(notebook: Path) -> nbformat.NotebookNode:
    """The notebook at ``notebook`` (format 4, schema-checked); :class:`NotebookError` if it is missing or not one."""
    if not Path(notebook).is_file():
        raise NotebookError(f"{notebook}: notebook not found")
    try:
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, nbformat.ValidationError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise NotebookError(f"{notebook}: not a valid Jupyter notebook ({reason})") from None
    return nb


def declared_parameters(notebook: Path) -> list[str]:
    """Names assigned in the cell tagged ``parameters`` (parsed as Python, so comments cannot hide one)."""
    return parameter_names(read_notebook(notebook), notebook)


def parameter_names(nb: nbformat.NotebookNode, notebook: Path) -> list[str]:
    """:func:`declared_parameters` of the notebook ``nb`` read from ``notebook`` (named in errors)."""
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise NotebookError(f"{notebook}: needs exactly one cell tagged 'parameters', found {len(cells)}")
    try:
        body = ast.parse(cells[0].source).body
    except SyntaxError as err:
        raise NotebookError(f"{notebook}: parameters cell line {err.lineno}: {err.msg}") from None
    names = []
    for statement in body:
        targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_parameters(nb: nbformat.NotebookNode, notebook: Path, parameters: dict) -> None:
    """Raise :class:`NotebookError` naming the first parameter the notebook ``nb`` (read from ``notebook``) does
    not declare."""
    declared = parameter_names(nb, notebook)
    for name in parameters:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise NotebookError(f"{notebook} has no parameter {name!r}; {hint}its parameters: {', '.join(declared)}")


def _yaml(text: str, what: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise NotebookError(f"{what} is not valid YAML: {str(err).splitlines()[0]}") from None


def parse_parameters(pairs: list[tuple[str, str]], mappings: list[str]) -> dict:
    """``-p`` pairs and ``-y`` mappings merged into one dict."""
    parameters = {}
    for text in mappings:
        mapping = _yaml(text, f"-y {text!r}")
        if not isinstance(mapping, dict):
            raise NotebookError(f"-y takes a mapping such as '{{lr: 0.01}}', got {text!r}")
        parameters.update(mapping)
    for name, value in pairs:
        parameters[name] = _yaml(value, f"-p {name} {value!r}")
    return parameters


def failed_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.failed.ipynb")


def run(notebook: Path, output: Path, parameters: dict, progress: bool = True) -> Path:
    """Execute ``notebook`` with ``parameters`` into ``output`` (atomically); raise :class:`NotebookError` with a
    one-line message if a parameter is unknown or a cell raises."""
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    notebook, output = Path(notebook), Path(output)
    nb = read_notebook(notebook)
    check_parameters(nb, notebook, parameters)
    bare = not nb.metadata.get("kernelspec")  # papermill needs a kernel name and language
    kernel = {"kernel_name": "python3", "language": "python"} if bare else {}
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.stem}.running.ipynb")
    failed = failed_path(output)
    failed.unlink(missing_ok=True)
    try:
        papermill.execute_notebook(notebook, tmp, parameters=parameters, progress_bar=progress, **kernel)
    except (PapermillExecutionError, DeadKernelError) as err:
        if tmp.exists():
            os.replace(tmp, failed)
        if isinstance(err, DeadKernelError):
            problem = f"the kernel died ({err}); run again to resume from the checkpoint"
        else:
            problem = f"{err.ename}: {err.evalue} (cell {err.exec_count}; traceback in {failed})"
        raise NotebookError(f"{notebook}: {problem}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spikegrad.notebook", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("-y", "--yaml", action="append", default=[], help="a YAML/JSON mapping of parameters")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar over the cells")
    args = parser.parse_args(argv)
    try:
        run(args.notebook, args.output, parse_parameters(args.parameter, args.yaml), progress=not args.no_progress)
    except NotebookError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
