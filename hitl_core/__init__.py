"""The core: storage, reviews, audit, ledger, leases, accounts and settings. It imports no agent, node, guardrail or application."""
