"""One module per output form: rich tables, strict JSON, CSV and plots."""
