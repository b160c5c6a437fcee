"""Code shared by several services and the gateway: errors, configuration,
storage plumbing, request context, and the rules and tables of the domain that
more than one part needs (certificate numbers, credit codes, code tables)."""
