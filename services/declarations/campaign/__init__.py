"""The operator's campaign figures (docs/workbench.md): units' divisions as
the declarations service knows them, yearly targets, and the projections of
the event log the campaign dashboard reads."""
