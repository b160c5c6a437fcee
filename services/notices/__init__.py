"""Notices: the platform's messages to community units, with read marks."""
