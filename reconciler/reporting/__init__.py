"""Training reports: a job's `results.csv` (Azure's columns, from Azure or a local run) as PNG
plots of loss and mean token accuracy and a markdown summary. Parsing and the summary are pure
(`results`, `summary`); only `plots` imports matplotlib, and only when it draws."""

from reconciler.reporting.results import Results, read_results
from reconciler.reporting.summary import RunFacts, summary_markdown

__all__ = ["Results", "RunFacts", "read_results", "summary_markdown"]
