"""The HTTP API (`hitl serve`): the runtime's operations over HTTP, beside the CLI and the app.

Every endpoint authenticates a bearer credential (an API token, or a JWT when an identity provider
is configured), then calls the same runtime functions as the CLI and the app: `jobs.submit_*` for runs, replies
and decisions (queued for a worker: `queued.py`), `Runner` for rollbacks, `access` for what an
account may read. Nothing here decides who
may do what or touches the database directly.
"""
