"""Residents: the roster, built from declaration events; person lookup; export."""
