"""HTTP gateway: authentication, validation, RPC to the services, the portal."""
