"""Code shared by several services and the gateway: errors, configuration,
storage plumbing, request context, and the rules and tables of the domain that
more than one part needs (certificate numbers, credit codes, code tables)."""

import warnings

# Nameko imports eventlet, which warns that it is deprecated on every start;
# the pairing is pinned and tested (docs/architecture.md, "Processes"), so keep logs clean.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
