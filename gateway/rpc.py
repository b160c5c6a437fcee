"""A pool of RPC clients to the Nameko services, one per gateway thread.

gunicorn's gthread worker serves each request on one thread, so a
thread-local client is never shared. The request id of the current request
travels to the services as Nameko context data. The client itself, and the
protocol it speaks, are common/rpc/ (`RpcClient`, re-exported here); the
readiness check (`ping_all`) pings through the same client.
"""
import threading

from kombu import Connection

from common.logs import request_id_var
from common.rpc.client import ClusterView, MethodCall, RpcClient, ServiceView  # noqa: F401 (re-exported)


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
        """Ping every service at once through this thread's client, waiting
        `timeout` seconds for all the answers; return the names that did not
        answer "pong" (unknown, timed out, failed, or unreachable)."""
        client = self.client()
        client.request_id = request_id_var.get()
        try:
            answers = client.call_all([(name, "ping", (), {}) for name in services], timeout)
        except Exception:
            return list(services)
        return [name for name, answer in zip(services, answers, strict=True) if answer != "pong"]
