"""The platform's adapter of Nameko's RPC protocol, used by both sides:

- `protocol`: what travels on the wire (exchange, queue and routing-key
  names, the `nameko.*` headers, reply properties, serialisation of
  results and errors), pinned against Nameko by tests/unit/test_rpc_protocol.py;
- `client`: the caller (`RpcClient`; the gateway keeps one per thread, and
  its readiness check pings through it);
- `server`: the service side (`rpc`, the entrypoint every service declares
  its methods with; `common.service.rpc`).
"""
