"""The runtime: runner (start, decide, resume, sweep, rollback), agent registry, models, evaluation, lessons.

Strict msgpack is switched on where processes start (`hitl_core.strict_msgpack`), not on import here.
"""
