"""The replication table of this scale (spikegrad.replication): Markdown, CSV and HTML (for the report)."""

from pathlib import Path

from spikegrad import replication, results

sm = snakemake  # noqa: F821 (injected by Snakemake)
claims = replication.load_claims(Path(sm.input.claims))
rows = replication.table(claims, Path(sm.params.root), sm.params.scale)
results.write_text(sm.output.markdown, replication.markdown(rows, claims, sm.params.scale))
frame = replication.frame(rows)
results.write_text(sm.output.table, frame.to_csv(index=False))
results.write_text(sm.output.html, frame.to_html(index=False, border=0))
