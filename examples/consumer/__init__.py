"""An example downstream consumer of the declaration events: see README.md."""
