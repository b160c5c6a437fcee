"""A gateway process's cache of authenticated principals.

Checking a bearer token is an RPC to the auth service (a few milliseconds
of CPU on each side), and it used to be made on every request. This cache
keeps the answer, keyed by the SHA-256 of the token, for a short time
(GATEWAY_AUTH_CACHE_SECONDS, 30 s by default, never past the token's own
expiry), while keeping the guarantee that a token stops working at once on
logout and on a password change:

- the auth service publishes every revocation as the Nameko event
  `tokens_revoked` on the `auth.events` exchange, before it answers the
  logout or password change ({"token_hashes": [...]} for a logout,
  {"account": ..., "except": <hash>} for a password change, which revokes
  all the account's other tokens);
- every gateway process runs a background consumer (its own exclusive,
  auto-deleted queue bound to that event) that evicts the entries named;
- the gateway process that handled the logout or password change evicts
  them itself, synchronously, so its next request already misses;
- the cache is used only while the consumer is connected and consuming: it
  is cleared and bypassed (every request asks auth, as before) from the
  moment the consumer loses the broker until it consumes again, so a
  revocation published meanwhile cannot be missed;
- an answer fetched while a revocation arrived is not stored (a generation
  number changes with every eviction);
- the TTL bounds how long anything else about a principal can be stale.

Lockout does not end existing sessions (it only refuses logins), so it needs
no eviction; expiry is honoured through the token's `expires_at`.
"""
import hashlib
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime

from kombu import Connection, Exchange, Queue

log = logging.getLogger(__name__)

EXCHANGE = "auth.events"  # Nameko's event exchange of the auth service
EVENT = "tokens_revoked"


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def revocation_queue(name):
    # The exchange as Nameko declares it (nameko.standalone.events.get_event_exchange).
    exchange = Exchange(EXCHANGE, type="topic", durable=True, auto_delete=False)
    return Queue(name, exchange, routing_key=EVENT, exclusive=True, auto_delete=True, durable=False)


class PrincipalCache:
    """Principals by token hash. `lookup(token, fetch)` returns the cached
    principal or calls `fetch(token)` (the auth RPC) and may keep its answer."""

    def __init__(self, amqp_uri, ttl=30.0, max_entries=10_000, heartbeat=10):
        self.amqp_uri = amqp_uri
        self.ttl = ttl
        self.max_entries = max_entries
        self.heartbeat = heartbeat
        self._entries = {}  # hash -> (principal, deadline monotonic)
        self._lock = threading.Lock()
        self._generation = 0
        self._live = False
        self._pid = None
        self._stop = threading.Event()
        self._thread = None
        self.connection = None
        self.consuming = threading.Event()  # set while the consumer listens (tests wait on it)

    @property
    def enabled(self):
        return self.ttl > 0

    # the cache
    def lookup(self, token, fetch):
        if not self.enabled:
            return fetch(token)
        self._ensure_consumer()
        key = token_hash(token)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key) if self._live else None
            generation = self._generation
        if hit is not None and hit[1] > now:
            return hit[0]
        principal = fetch(token)
        self._store(key, principal, generation, now)
        return principal

    def _store(self, key, principal, generation, now):
        deadline = now + self.ttl
        expires_at = principal.get("expires_at") if isinstance(principal, dict) else None
        if expires_at:
            try:
                left = (datetime.fromisoformat(expires_at) - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                left = 0
            deadline = min(deadline, now + left)
        if deadline <= now:
            return
        with self._lock:
            if not self._live or generation != self._generation:
                return  # the consumer is not listening, or something was revoked meanwhile
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (principal, deadline)

    def revoke(self, message):
        """Evict what a `tokens_revoked` message names."""
        hashes = set(message.get("token_hashes") or ())
        account, keep = message.get("account"), message.get("except")
        with self._lock:
            self._generation += 1
            for key in hashes:
                self._entries.pop(key, None)
            if account:
                for key in [k for k, (p, _) in self._entries.items()
                            if p.get("account") == account and k != keep]:
                    del self._entries[key]

    def revoke_token(self, token):
        self.revoke({"token_hashes": [token_hash(token)]})

    def revoke_account(self, account, keep_token):
        self.revoke({"account": account, "except": token_hash(keep_token)})

    def clear(self):
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self):
        return len(self._entries)

    # the revocation consumer
    def _set_live(self, live):
        with self._lock:
            self._generation += 1
            self._entries.clear()  # whatever was cached may have missed a revocation
            self._live = live
        (self.consuming.set if live else self.consuming.clear)()

    def _ensure_consumer(self):
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            # first use in this process (gunicorn forks workers): start its consumer
            self._pid = pid
            self._live = False
            self._entries.clear()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._consume_forever, name="auth-revocations", daemon=True)
            self._thread.start()

    def start(self):
        """Start the consumer now (it also starts on first use)."""
        if self.enabled:
            self._ensure_consumer()
        return self

    def stop(self, timeout=5):
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._pid = None

    def _consume_forever(self):
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._consume()
                backoff = 0.5
            except Exception as exc:  # the broker went away, or never came
                log.warning("auth revocation consumer lost the broker (%s); principal cache off until it is back",
                            type(exc).__name__)
            finally:
                self._set_live(False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _consume(self):
        with Connection(self.amqp_uri, heartbeat=self.heartbeat, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
            self.connection = conn  # what the tests cut to simulate a network failure
            queue = revocation_queue(f"gateway.revocations.{uuid.uuid4().hex}")
            channel = conn.channel()
            queue(channel).declare()

            def on_message(body, message):
                try:
                    self.revoke(body if isinstance(body, dict) else {})
                finally:
                    message.ack()

            with conn.Consumer([queue], channel=channel, callbacks=[on_message], accept=["json"]):
                self._set_live(True)
                log.info("auth revocation consumer listening; principal cache on (ttl %ss)", self.ttl)
                while not self._stop.is_set():
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        conn.heartbeat_check()
