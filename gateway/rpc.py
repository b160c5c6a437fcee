"""A pool of RPC clients to the Nameko services, one per gateway thread.

gunicorn's gthread worker serves each request on one thread, so a
thread-local client is never shared. The request id of the current request
travels to the services as Nameko context data.

`RpcClient` speaks Nameko's RPC protocol (the one of
`nameko.standalone.rpc.ClusterRpcProxy`, which it replaced) with less work
per call, for the gateway and for the broker (which shares the machine):

- one AMQP connection and channel per thread for both the request and the
  reply, instead of a kombu Connection, a pooled producer and a Publisher
  made for every call plus a second connection for the replies;
- replies consumed without acks (the reply queue is the thread's own);
- requests transient and without publisher confirms (Nameko's are
  persistent and confirmed: the broker's fsync and ack cost it ~0.3 ms of
  CPU per call). A request is only worth running while its HTTP caller
  waits; a persistent one would run after a broker restart, long after the
  gateway answered 503. A request lost with its connection ends as a lost
  reply does: RpcTimeout, 503.

What a call does is otherwise Nameko's: the request is published mandatory,
so that an unknown service comes back (basic.return, before any reply could)
and is refused at once (UnknownService); the `nameko.*` context headers
carry the request id; the reply's error is deserialised into the class
registered by common/errors.py; the call gives up after the timeout
(RpcTimeout); a connection closed meanwhile (a broker restart) is noticed
before publishing and re-established.
"""
import logging
import select
import sys
import threading
import time
import uuid

import amqp
import kombu.serialization
from kombu import Connection
from kombu.exceptions import OperationalError
from nameko.exceptions import RpcTimeout, UnknownService, deserialize
from nameko.rpc import RPC_REPLY_QUEUE_TEMPLATE, RPC_REPLY_QUEUE_TTL
from nameko.standalone.rpc import ClusterRpcProxy

from common.logs import request_id_var

log = logging.getLogger(__name__)

# kombu asks `import librabbitmq` each time a Connection is made: a failed
# import searches sys.path again every time. The C client is not used here;
# mark it absent once so that the import fails at once (the services get the
# same from common/service.py).
sys.modules.setdefault("librabbitmq", None)

EXCHANGE = "nameko-rpc"  # Nameko's default RPC exchange (durable topic)
NON_PERSISTENT = 1
CLIENT_NAME = "standalone_rpc_proxy"  # as Nameko's standalone proxies call themselves


class RpcClient:
    """One thread's RPC client: `client.cluster.declarations.unit_summary(1)`.
    Not thread-safe."""

    def __init__(self, amqp_uri, timeout, serializer="json"):
        self.amqp_uri, self.timeout, self.serializer = amqp_uri, timeout, serializer
        self.accept = kombu.serialization.prepare_accept_content([serializer])
        reply_id = str(uuid.uuid4())
        self.routing_key = reply_id
        self.queue = RPC_REPLY_QUEUE_TEMPLATE.format(CLIENT_NAME, reply_id)
        # Nameko's standalone proxy sends its call id stack in the headers too
        self.call_id_stack = [f"{CLIENT_NAME}.call.{uuid.uuid4()}"]
        self.request_id = None
        self.replies = {}
        self.returned = set()
        self.connection = self.channel = None
        self.cluster = ClusterView(self)

    # connection
    def connect(self):
        connection = Connection(self.amqp_uri)
        try:
            connection.connect()
            channel = connection.channel()
            channel.events["basic_return"].add(self._on_return)
            channel.exchange_declare(EXCHANGE, "topic", durable=True, auto_delete=False)
            channel.queue_declare(self.queue, durable=False, auto_delete=False,
                                  arguments={"x-expires": RPC_REPLY_QUEUE_TTL})
            channel.queue_bind(self.queue, EXCHANGE, self.routing_key)
            channel.basic_consume(self.queue, no_ack=True, callback=self._on_reply)
        except BaseException:
            _close(connection)
            raise
        self.connection, self.channel = connection, channel

    def close(self):
        connection, self.connection, self.channel = self.connection, None, None
        self.replies.clear()
        if connection is not None:
            _close(connection)

    def _on_reply(self, message):
        self.replies[message.properties.get("correlation_id")] = message

    def _on_return(self, exc, exchange, routing_key, message):
        self.returned.add(message.properties.get("correlation_id"))

    # a call
    def call(self, service, method, args, kwargs):
        correlation_id = str(uuid.uuid4())
        self._publish(service, method, args, kwargs, correlation_id)
        return self._result(self._wait(service, correlation_id))

    def _check_connection(self):
        """Between calls nothing is due from the broker: anything readable is
        the connection closing (a broker restart) or a stray frame. Read it
        so that a closed connection is replaced before the request is
        published rather than noticed as a missing reply."""
        if _readable(self.connection.connection.sock):
            try:
                self.connection.drain_events(timeout=0)
            except TimeoutError:
                pass
            self.replies.clear()

    def _publish(self, service, method, args, kwargs, correlation_id):
        content_type, content_encoding, body = kombu.serialization.dumps(
            {"args": args, "kwargs": kwargs}, self.serializer)
        if isinstance(body, str):
            body = body.encode(content_encoding)
        headers = {"nameko.call_id_stack": self.call_id_stack}
        if self.request_id is not None:
            headers["nameko.request_id"] = self.request_id
        message = amqp.Message(
            body, content_type=content_type, content_encoding=content_encoding,
            delivery_mode=NON_PERSISTENT, priority=0, application_headers=headers,
            correlation_id=correlation_id, reply_to=self.routing_key)
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connect()
                else:
                    self._check_connection()
                self.channel.basic_publish(message, exchange=EXCHANGE,
                                           routing_key=f"{service}.{method}", mandatory=True)
                return
            except Exception as exc:
                # a closed connection (the broker restarted meanwhile): once
                # more on a new one, as Nameko's publisher retries
                self.close()
                if attempt or not _transport_error(exc):
                    raise _unavailable(exc) from exc
                log.info("RPC connection lost (%s); reconnecting", type(exc).__name__)

    def _wait(self, service, correlation_id):
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        reconnected = False
        while correlation_id not in self.replies:
            if correlation_id in self.returned:
                # the mandatory request came back: nobody consumes that
                # service's requests
                self.returned.discard(correlation_id)
                raise UnknownService(service)
            remaining = None if deadline is None else deadline - time.monotonic()
            try:
                if remaining is not None and remaining <= 0:
                    raise TimeoutError()
                self.connection.drain_events(timeout=remaining)
            except TimeoutError:
                # a read may have stopped inside a frame: start afresh next time
                self.close()
                raise RpcTimeout(self.timeout) from None
            except Exception as exc:
                # the reply queue outlives the connection (x-expires): consume
                # it again once on a new connection, as Nameko's proxy does
                self.close()
                if reconnected or not _transport_error(exc):
                    raise _unavailable(exc) from exc
                reconnected = True
                try:
                    self.connect()
                except Exception as again:
                    raise _unavailable(again) from again
        return self.replies.pop(correlation_id)

    def _result(self, message):
        props = message.properties
        body = kombu.serialization.loads(
            message.body, props.get("content_type"), props.get("content_encoding"), accept=self.accept)
        error = body.get("error")
        if error:
            raise deserialize(error)
        return body["result"]


def _readable(sock):
    """Whether the socket has something to read, without waiting. poll, not
    select, where there is one: a busy gateway may hold descriptors above
    1024 (eventlet's green `select`, under the tests, has no poll)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


def _transport_error(exc):
    return isinstance(exc, (OSError, amqp.exceptions.ConnectionError,
                            amqp.exceptions.RecoverableConnectionError, OperationalError))


def _unavailable(exc):
    """Transport failures as the gateway's error table knows them (503)."""
    if isinstance(exc, (OSError, OperationalError)):
        return exc
    return OperationalError(f"{type(exc).__name__}: {exc}")


def _close(connection):
    try:
        connection.close()
    except Exception:  # already broken
        log.debug("closing a broken RPC connection failed", exc_info=True)


class ClusterView:
    """`view.service.method(*args)` and `view["service"].method(*args)`."""

    def __init__(self, client):
        self._client = client
        self._services = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        service = self._services.get(name)
        if service is None:
            service = self._services[name] = ServiceView(self._client, name)
        return service

    def __getitem__(self, name):
        return getattr(self, name)


class ServiceView:
    def __init__(self, client, name):
        self._client, self._name = client, name
        self._methods = {}

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        method = self._methods.get(name)
        if method is None:
            method = self._methods[name] = MethodCall(self._client, self._name, name)
        return method


class MethodCall:
    __slots__ = ("client", "service", "method")

    def __init__(self, client, service, method):
        self.client, self.service, self.method = client, service, method

    def __call__(self, *args, **kwargs):
        return self.client.call(self.service, self.method, args, kwargs)

    def __repr__(self):
        return f"<rpc method: {self.service}.{self.method}>"


class RpcPool:
    def __init__(self, amqp_uri, timeout):
        self.config = {"AMQP_URI": amqp_uri, "serializer": "json"}
        self.timeout = timeout
        self._local = threading.local()
        self._all = []
        self._lock = threading.Lock()

    def client(self):
        """The calling thread's client, made on first use (it connects on
        its first call)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = RpcClient(self.config["AMQP_URI"], self.timeout)
            with self._lock:
                self._all.append(client)
        return client

    def proxy(self):
        """The calling thread's view of the cluster, carrying the current
        request id."""
        client = self.client()
        client.request_id = request_id_var.get()
        return client.cluster

    def discard(self):
        """Drop this thread's connection after a transport error; the next
        call makes a fresh one."""
        client = getattr(self._local, "client", None)
        if client is not None:
            client.close()

    def close(self):
        with self._lock:
            clients, self._all = self._all, []
        for c in clients:
            c.close()

    def broker_ok(self, timeout):
        try:
            with Connection(self.config["AMQP_URI"], connect_timeout=timeout) as conn:
                conn.ensure_connection(max_retries=1, timeout=timeout)
            return True
        except Exception:
            return False

    def ping_all(self, services, timeout):
        """Ping each service concurrently; return the names that did not answer."""
        down = []
        try:
            standalone = ClusterRpcProxy(self.config, timeout=timeout)
            proxy = standalone.start()
        except Exception:
            return list(services)
        try:
            replies = {}
            for name in services:
                try:
                    replies[name] = proxy[name].ping.call_async()
                except Exception:
                    down.append(name)
            for name, reply in replies.items():
                try:
                    if reply.result() != "pong":
                        down.append(name)
                except Exception:
                    down.append(name)
        finally:
            try:
                standalone.stop()
            except Exception:
                pass
        return down
