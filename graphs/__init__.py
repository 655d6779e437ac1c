"""Agent graphs, one module per agent; each builds an uncompiled StateGraph."""
