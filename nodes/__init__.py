"""Reusable nodes: screen, validator, approval gate, ask-the-requester, executor, finish."""
