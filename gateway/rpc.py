"""A pool of Nameko standalone RPC proxies, one per gateway thread.

Standalone proxies are not thread-safe; gunicorn's gthread worker serves each
request on one thread, so a thread-local proxy is never shared. The request id
of the current request travels to the services as Nameko context data.
"""
import logging
import sys
import threading

from kombu import Connection
from nameko.standalone.rpc import ClusterRpcProxy

from common.logs import request_id_var

log = logging.getLogger(__name__)

# kombu asks `import librabbitmq` each time a Connection is made, which Nameko
# does for every publish: a failed import searches sys.path again every time
# (~3% of the gateway's CPU on GET /api/unit, py-spy). The C client is not
# used here; mark it absent once so that the import fails at once.
sys.modules.setdefault("librabbitmq", None)


class RpcPool:
    def __init__(self, amqp_uri, timeout):
        self.config = {"AMQP_URI": amqp_uri, "serializer": "json"}
        self.timeout = timeout
        self._local = threading.local()
        self._all = []
        self._lock = threading.Lock()

    def proxy(self):
        """The calling thread's cluster proxy, started on first use."""
        standalone = getattr(self._local, "standalone", None)
        if standalone is None:
            standalone = ClusterRpcProxy(self.config, timeout=self.timeout)
            self._local.proxy = standalone.start()
            self._local.standalone = standalone
            with self._lock:
                self._all.append(standalone)
        standalone._worker_ctx.data["request_id"] = request_id_var.get()
        return self._local.proxy

    def discard(self):
        """Drop this thread's proxy after a transport error; the next call
        builds a fresh one."""
        standalone = getattr(self._local, "standalone", None)
        self._local.standalone = None
        if standalone is not None:
            with self._lock:
                if standalone in self._all:
                    self._all.remove(standalone)
            try:
                standalone.stop()
            except Exception:  # the connection is already broken
                log.debug("closing a broken RPC proxy failed", exc_info=True)

    def close(self):
        with self._lock:
            proxies, self._all = self._all, []
        for p in proxies:
            try:
                p.stop()
            except Exception:
                pass

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
