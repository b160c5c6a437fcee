"""gunicorn settings for the gateway (read by `gunicorn -c deploy/gunicorn.conf.py`)."""
import os

# honcho sets PORT for each process it runs, so `make run` passes ours as GATEWAY_PORT.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('GATEWAY_PORT') or os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("GATEWAY_WORKERS", "2"))
threads = int(os.environ.get("GATEWAY_THREADS", "8"))
timeout = int(os.environ.get("GATEWAY_TIMEOUT", "120"))
graceful_timeout = 10
accesslog = None  # the app logs every request with its request id
limit_request_line = 8190


def on_starting(server):
    # prometheus_client multiprocess mode: one directory shared by the workers.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
