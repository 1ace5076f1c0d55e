"""``python -m dl_cli`` runs the `dl` command line."""

from dl_cli.main import main

main()
