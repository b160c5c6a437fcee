"""CPU of one Nameko RPC, per side: the caller, the service and the broker.

    python -m bench.bench_rpc [--calls 1500] [--threads 4] [--rounds 2]

Starts a one-method echo service (a 20-row list each way) as its own process,
once with Nameko's own `rpc` entrypoint ("nameko", replies published with
publisher confirms) and once with the platform's (`common.service.rpc`);
against each, 4 threads call it N times through Nameko's
`ClusterRpcProxy` (what the gateway used) and through `gateway.rpc.RpcClient`.
Prints the CPU per call of the calling threads (thread_time), of the service
process and of the RabbitMQ node (beam.smp, from /proc: it must run on this
machine and is shared, so other traffic counts too), and calls per second.
Needs AMQP_URI (default the local guest broker)."""
import argparse
import os
import subprocess
import sys
import threading
import time

URI = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
PAYLOAD = [{"name": "张三", "cert_no": "350102199001011234", "n": i} for i in range(20)]


def serve(kind, uri):
    import eventlet
    eventlet.monkey_patch()
    import nameko.rpc
    from nameko.runners import ServiceRunner

    from common.service import PlatformService, rpc

    class PlatformEcho(PlatformService):
        name = "bench_echo"

        @rpc
        def echo(self, value):
            return value

    class NamekoEcho(PlatformService):
        name = "bench_echo"

        # Nameko's own entrypoint for both methods (one consumer per queue)
        @nameko.rpc.rpc
        def echo(self, value):
            return value

        @nameko.rpc.rpc
        def ping(self):
            return "pong"

    runner = ServiceRunner({"AMQP_URI": uri, "serializer": "json"})
    runner.add_service(PlatformEcho if kind == "platform" else NamekoEcho)
    runner.start()
    print("ready", flush=True)
    runner.wait()


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def beam_pid():
    out = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def drive(client, calls, threads):
    from nameko.standalone.rpc import ClusterRpcProxy

    from gateway.rpc import RpcClient
    spent = [0.0] * threads

    def work(k):
        if client == "ClusterRpcProxy":
            standalone = ClusterRpcProxy({"AMQP_URI": URI, "serializer": "json"}, timeout=10)
            proxy = standalone.start()
            standalone._worker_ctx.data["request_id"] = "bench"
        else:
            c = RpcClient(URI, 10)
            c.request_id = "bench"
            proxy = c.cluster
        proxy.bench_echo.echo(PAYLOAD)
        start = time.thread_time()
        for _ in range(calls):
            proxy.bench_echo.echo(PAYLOAD)
        spent[k] = time.thread_time() - start
        if client == "ClusterRpcProxy":
            standalone.stop()
        else:
            c.close()

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(spent) / (calls * threads) * 1000


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve, URI)
    beam = beam_pid()
    n = args.calls * args.threads
    for _ in range(args.rounds):
        for service in ("nameko", "platform"):
            proc = subprocess.Popen([sys.executable, "-m", "bench.bench_rpc", "--serve", service],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                assert proc.stdout.readline().strip() == "ready"
                time.sleep(0.5)
                for client in ("ClusterRpcProxy", "RpcClient"):
                    s0, b0, w0 = cpu(proc.pid), beam and cpu(beam), time.time()
                    caller = drive(client, args.calls, args.threads)
                    s1, b1, wall = cpu(proc.pid), beam and cpu(beam), time.time() - w0
                    broker = f"{(b1 - b0) / n * 1000:.3f}" if beam else "n/a"
                    print(f"service rpc {service:8} caller {client:15}  CPU ms/call: caller {caller:.3f}, "
                          f"service {(s1 - s0) / n * 1000:.3f}, broker {broker}; {n / wall:.0f} calls/s; "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)
            finally:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    main()
