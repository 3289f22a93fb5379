"""The shop's foundation: the application error, shared admin helpers, rate limits, background work."""
