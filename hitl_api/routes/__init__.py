"""The API's routes, one module per group (the CLI's command groups)."""
