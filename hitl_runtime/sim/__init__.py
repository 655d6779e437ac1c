"""Simulated business systems the agents act on."""
