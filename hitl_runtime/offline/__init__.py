"""The built-in deterministic model: offline, reproducible, and tool-calling like a real one."""
