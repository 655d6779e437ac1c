"""Agents of one's own, the two ways a LangGraph user expects (see README, "Your own agent")."""
