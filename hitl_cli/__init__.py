"""The `hitl` command line: the runtime and the laboratory behind one parser."""
