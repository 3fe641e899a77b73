"""Static guards over the project's own code: nothing unpickles a file, and every output is written atomically
(through spikegrad.atomic, or to a temporary name renamed into place)."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p for folder in ("lib", "scripts", "rules", "notebooks") for p in (REPO / folder).rglob("*")
    if p.suffix in (".py", ".smk", ".ipynb") and "egg-info" not in str(p)
)  # fmt: skip
UNPICKLING = re.compile(r"pickle\.loads?\(|torch\.load\(|allow_pickle\s*=\s*True|read_pickle\(|joblib\.load|dill\.load")
DIRECT_WRITE = re.compile(
    r"savefig\(|(?<!results)\.write_text\(|\.write_bytes\(|json\.dump\(|np\.save|\.to_csv\((?!\w+=)[^)]"
    r"|open\([^)]*['\"][wax]b?['\"]|h5py\.File\([^)]*['\"][wax]['\"]"
)
# Files whose direct writes go to a temporary name that is renamed over the target once complete.
ATOMIC = {"lib/spikegrad/atomic.py", "lib/spikegrad/results.py", "lib/spikegrad/plots.py",
          "lib/spikegrad/data/download.py", "lib/spikegrad/data/idx.py", "lib/spikegrad/data/spikedata.py",
          "lib/spikegrad/data/shd_format.py"}  # fmt: skip


def test_the_guards_see_the_sources():
    assert len(SOURCES) > 50 and REPO / "lib/spikegrad/train.py" in SOURCES
    assert UNPICKLING.search("x = torch.load(path)") and DIRECT_WRITE.search("path.write_text(text)")
    assert DIRECT_WRITE.search('open(path, "wb")') and not DIRECT_WRITE.search('open(path, "rb")')
    assert DIRECT_WRITE.search("runs.to_csv(path)") and not DIRECT_WRITE.search("runs.to_csv(index=False)")
    assert not DIRECT_WRITE.search("results.write_text(path, text)")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_source_unpickles_or_writes_outputs_in_place(path):
    text = path.read_text()
    assert not UNPICKLING.search(text), f"{path} unpickles a file: use safetensors, JSON or HDF5"
    if str(path.relative_to(REPO)) not in ATOMIC:
        hit = DIRECT_WRITE.search(text)
        assert hit is None, f"{path} writes {hit.group()!r} in place: use spikegrad.results.write_* or plots.save"
