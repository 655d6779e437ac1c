"""`python -m hitl_cli` runs the command line."""

from hitl_cli.main import main

main()
