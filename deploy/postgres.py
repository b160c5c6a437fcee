"""Make sure the PostgreSQL of the storage tests answers (make test).

The tests connect to TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test: the `postgres` role with
trust authentication on the loopback address, database `test`) and create and
drop one database per test there. When nothing answers and a Debian cluster
is installed (`pg_ctlcluster`, /etc/postgresql/<version>/main), start it; when
the server answers but the database `test` is missing, create it. Whatever
cannot be done here is said plainly, and the exit status is non-zero."""
import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlparse

URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CLUSTERS = "/etc/postgresql"
HOW = (
    "PostgreSQL does not answer at {where} (the storage tests run on it too): install it with "
    "`apt-get install postgresql`, start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, let the role "
    "`postgres` connect over 127.0.0.1 with trust authentication (pg_hba.conf), or point "
    "TEST_POSTGRES_URL at a server where that role may create databases."
)


def _conninfo(database=None):
    url = urlparse(URL.replace("postgresql+psycopg://", "postgresql://"))
    if database is not None:
        url = url._replace(path="/" + database)
    return url.geturl()


def _where():
    url = urlparse(URL)
    return f"{url.hostname}:{url.port or 5432}"


def connect_error(database=None):
    """None when a connection succeeds, else the driver's message."""
    import psycopg

    try:
        with psycopg.connect(_conninfo(database), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure is reported as text
        return str(exc).strip() or type(exc).__name__


def server_answers():
    error = connect_error("postgres")
    return error is None or "does not exist" in error


def start_local_clusters():
    """Start every installed Debian cluster named `main`; whether one was tried."""
    if not (shutil.which("pg_ctlcluster") and os.path.isdir(CLUSTERS)):
        return False
    tried = False
    for version in sorted(os.listdir(CLUSTERS)):
        if os.path.isdir(os.path.join(CLUSTERS, version, "main")):
            print(f"starting PostgreSQL {version} (`pg_ctlcluster --skip-systemctl-redirect {version} main start`) ...")
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
            tried = True
    return tried


def create_database(name):
    import psycopg

    with psycopg.connect(_conninfo("postgres"), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    print(f"created the database {name}")


def main():
    if not server_answers():
        local = urlparse(URL).hostname in ("localhost", "127.0.0.1", "::1")
        if not (local and start_local_clusters()):
            print(HOW.format(where=_where()), file=sys.stderr)
            return 1
        for _ in range(30):
            if server_answers():
                break
            time.sleep(1)
        else:
            print(HOW.format(where=_where()), file=sys.stderr)
            return 1
    database = urlparse(URL).path.lstrip("/") or "postgres"
    error = connect_error(database)
    if error and "does not exist" in error:
        create_database(database)
        error = connect_error(database)
    if error:
        print(f"PostgreSQL at {_where()}: {error}", file=sys.stderr)
        print(HOW.format(where=_where()), file=sys.stderr)
        return 1
    print(f"PostgreSQL OK at {_where()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
