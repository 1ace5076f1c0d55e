"""The `dl` command line (installed as the `dl_cli` package)."""
