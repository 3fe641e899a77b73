"""The replication table: claims read from result files, verdicts from their criteria, the README's blocks."""

import copy
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from spikegrad import replication as rp

REPO = Path(__file__).resolve().parents[1]
PAPERS = {"demo": "Demo et al., A paper", "other": "Other, Another paper"}


def claim(**changes) -> dict:
    base = {
        "id": "demo_accuracy",
        "paper": "demo",
        "claim": "The demo network learns",
        "paper_value": "90 %",
        "source": "Table 1",
        "values": {"acc": {"file": "demo/summary.csv", "where": {"engine": "a"}, "column": "test"}},
        "ours": "{acc:.1%} test",
        "measure": "acc",
        "reproduced": ">= 0.9",
        "partly": ">= 0.5",
    }
    return {**base, **changes}


@pytest.fixture
def root(tmp_path):
    """results/<scale> with one CSV table and one JSON benchmark."""
    (tmp_path / "demo").mkdir()
    pd.DataFrame(
        {
            "engine": ["a", "a", "b", "b"],
            "band": [0.2, float("inf"), 0.2, 0.5],
            "time": [0.0, 500.0, 800.0, 100.0],
            "flag": [True, False, True, False],
            "test": [0.8, 1.0, 0.3, 0.5],
        }  # fmt: skip
    ).to_csv(tmp_path / "demo/summary.csv", index=False)
    bench = {"threads": 2, "by_size": [{"hidden": 8, "speedup": 3.0}, {"hidden": 16, "speedup": 5.0}]}
    (tmp_path / "demo/bench.json").write_text(json.dumps(bench))
    return tmp_path


def evaluate(root, scale="quick", **changes):
    return rp.evaluate_claim(claim(**changes), root, scale)


def test_values_select_rows_reduce_and_give_the_verdict(root):
    row = evaluate(root)  # mean of 0.8 and 1.0
    assert (row.ours, row.verdict, row.files) == ("90.0% test", "reproduced", ("demo/summary.csv",))
    spec = {"file": "demo/summary.csv", "column": "test"}
    cases = [
        ({"where": {"engine": "b"}}, 0.4),  # mean over the matching rows
        ({"where": {"engine": ["a", "b"]}, "reduce": "min"}, 0.3),  # a list of allowed values
        ({"where": {"time": {"min": 100.0, "max": 500.0}}, "reduce": "max"}, 1.0),  # an inclusive range
        ({"where": {"band": float("inf")}}, 1.0),  # inf, as YAML's .inf
        ({"where": {"flag": True}, "reduce": "count"}, 2.0),  # booleans read back from the CSV
        ({"file": "demo/bench.json", "records": "by_size", "column": "speedup", "reduce": "sum"}, 8.0),
        ({"file": "demo/bench.json", "column": "threads"}, 2.0),  # a top-level JSON entry
    ]
    for extra, expected in cases:
        assert rp.read_value(root, {**spec, **extra}) == pytest.approx(expected), extra
    assert rp.read_value(root, {**spec, "where": {"engine": "c"}}) is None  # no rows: not run
    assert rp.read_value(root, {**spec, "file": "demo/absent.csv"}) is None


def test_thresholds_decide_between_reproduced_partly_and_not_reproduced(root):
    values = {"a": {"file": "demo/summary.csv", "where": {"engine": "a"}, "column": "test"},
              "b": {"file": "demo/summary.csv", "where": {"engine": "b"}, "column": "test"}}  # fmt: skip
    for measure, verdict in (("a - b", "reproduced"), ("b - a", "partly"), ("abs(b) - 2 * a", "not reproduced")):
        row = evaluate(root, values=values, measure=measure, ours="{a:.2f} vs {b:.2f}", reproduced="> 0.4",
                       partly=">= -0.5")  # fmt: skip
        assert (row.ours, row.verdict) == ("0.90 vs 0.40", verdict), measure


def test_claims_outside_their_scales_or_without_results_are_not_run(root):
    row = evaluate(root, scales=["paper"], note="needs a GPU")
    assert (row.verdict, row.ours, row.note) == ("not run at this scale", "–", "needs a GPU")
    row = evaluate(root, values={"acc": {"file": "demo/summary.csv", "where": {"engine": "z"}, "column": "test"}})
    assert (row.verdict, row.ours) == ("not run at this scale", "no result (acc)")
    with pytest.raises(rp.ClaimError, match="no column 'missing'"):
        evaluate(root, values={"acc": {"file": "demo/summary.csv", "column": "missing"}})


def test_measures_allow_arithmetic_only():
    assert rp.evaluate("max(a, b) / 2 - -abs(c) + sqrt(4)", {"a": 1.0, "b": 3.0, "c": -1.0}) == pytest.approx(4.5)
    for bad in ("__import__('os')", "a.real", "a if a else b", "[a]", "a ** 2"):
        with pytest.raises((ValueError, KeyError)):
            rp.evaluate(bad, {"a": 1.0, "b": 2.0})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"paper": "unknown"}, "paper 'unknown' is not one of"),
        ({"verdict": "yes"}, r"unknown keys \['verdict'\]"),
        ({"reproduced": "≥ 0.9"}, "is not '<op> <number>'"),
        ({"partly": ">= half"}, "'half' is not a number"),
        ({"measure": "acc - missing"}, "does not fit its values"),
        ({"ours": "{missing:.1%}"}, "does not fit its values"),
        ({"values": {"acc": {"file": "x.csv", "column": "c", "reduce": "median"}}}, "reduce must be one of"),
        ({"values": {"acc": {"file": "x.csv"}}}, r"missing \['column'\]"),
    ],
)
def test_malformed_claims_are_refused_with_the_claim_named(change, message):
    with pytest.raises(rp.ClaimError, match=message):
        rp.check_claim(claim(**change), PAPERS)
    bad = claim()
    del bad["source"]
    with pytest.raises(rp.ClaimError, match=r"demo_accuracy: missing keys \['source'\]"):
        rp.check_claim(bad, PAPERS)


def test_committed_claims_cover_every_paper_with_at_least_four(tmp_path):
    config = rp.load_claims(REPO / "config/replication.yaml")
    counts = pd.Series([c["paper"] for c in config["claims"]]).value_counts()
    assert set(counts.index) == set(config["papers"]) and counts.min() >= 4
    assert set(rp.claim_files(config, "quick")) >= {"eventprop/tables/summary.csv", "sparse/bench.json"}
    assert "eventprop/tables/summary.csv" in rp.claim_files(config, "paper")
    duplicate = copy.deepcopy(config)
    duplicate["claims"].append(duplicate["claims"][0])
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(duplicate, allow_unicode=True))
    with pytest.raises(rp.ClaimError, match="appears twice"):
        rp.load_claims(tmp_path / "claims.yaml")


def test_markdown_tables_and_readme_splicing(root, tmp_path):
    config = {"papers": PAPERS, "claims": [claim(), claim(id="other_claim", paper="other", scales=["paper"])]}
    rows = rp.table(config, root, "quick")
    text = rp.markdown(rows, config, "quick")
    assert "2 claims at the `quick` scale: 1 reproduced, 0 partly, 0 not reproduced, 1 not run at this scale." in text
    assert "## Demo et al., A paper" in text and "| The demo network learns | 90 % (Table 1) |" in text
    readme = "# Title\n<!-- replication:overview -->\nold\n<!-- /replication:overview -->\nkept\n"
    readme += "<!-- replication:demo -->\n<!-- /replication:demo -->\n"
    readme += "<!-- replication:other -->\nx\n<!-- /replication:other -->\n"
    blocks = rp.readme_blocks(rows, config, "quick")
    spliced, done = rp.splice(readme, blocks)
    assert done == ["overview", "demo", "other"]
    assert "old" not in spliced and "kept" in spliced and spliced.count("| demo | The demo network learns |") == 1
    assert rp.splice(spliced, blocks) == (spliced, done)  # idempotent
    front, study = Path("README.md"), Path("studies/demo/README.md")
    texts = {front: "<!-- replication:overview -->\n<!-- /replication:overview -->\n",
             study: "x\n<!-- replication:demo -->\n<!-- /replication:demo -->\n<!-- replication:other -->\n"
                    "<!-- /replication:other -->\n"}  # fmt: skip
    written = rp.splice_files(texts, blocks)
    assert "| demo | The demo network learns |" in written[front] and written[study].startswith("x\n")
    with pytest.raises(rp.ClaimError, match=r"of \['other'\]"):
        rp.splice_files({front: texts[front]}, {"overview": "o", "other": "x"})
    with pytest.raises(rp.ClaimError, match="in both"):
        rp.splice_files({front: texts[front], study: texts[front]}, {"overview": "o"})


def test_cli_rewrites_the_readme_or_fails_with_one_line(root, tmp_path, capsys):
    claims = tmp_path / "claims.yaml"
    claims.write_text(yaml.safe_dump({"papers": PAPERS, "claims": [claim()]}))
    readme = tmp_path / "README.md"
    blocks = "".join(f"<!-- replication:{name} -->\n<!-- /replication:{name} -->\n" for name in ("overview", *PAPERS))
    readme.write_text("# Title\n" + blocks)
    scale_root = tmp_path / "results" / "quick"  # the folder's name is the scale
    scale_root.parent.mkdir()
    scale_root.symlink_to(root, target_is_directory=True)
    assert rp.main(["--results", str(scale_root), "--claims", str(claims), "--readme", str(readme)]) == 0
    assert "| demo | The demo network learns | 90 % | 90.0% test | **reproduced** |" in readme.read_text()
    assert rp.main(["--results", str(tmp_path / "nothing"), "--claims", str(claims), "--readme", str(readme)]) == 2
    assert "no such results folder" in capsys.readouterr().err


def test_readme_blocks_list_every_committed_claim():
    config = rp.load_claims(REPO / "config/replication.yaml")
    readmes = [REPO / "README.md", *sorted((REPO / "lib/spikegrad/studies").glob("*/README.md"))]
    readme = "".join(path.read_text() for path in readmes)  # the front page and the studies' READMEs
    for name in ("overview", *config["papers"]):
        block = re.search(rf"<!-- replication:{name} -->\n(.*?)<!-- /replication:{name} -->", readme, re.S)
        assert block, f"README lacks the generated block {name}"
        for c in config["claims"]:
            if name in ("overview", c["paper"]):
                assert f"| {rp._cell(c['claim'])} |" in block.group(1), (name, c["id"])
        verdicts = re.findall(r"\*\*([a-z ]+)\*\* \|", block.group(1))
        assert verdicts and set(verdicts) <= set(rp.VERDICTS), name
