"""Declarations: the append-only event log, its projections and the outbox relay."""
