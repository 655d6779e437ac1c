"""Policies, signals, input and output checks, and routing."""
