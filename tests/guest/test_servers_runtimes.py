"""Node.js and Java servers in the sandbox (--network=host), driven from
the host by a real HTTP client and stopped with SIGTERM; the same server
run natively answers the same."""
import concurrent.futures
import os
import signal
import subprocess
import urllib.request

from test_servers import ENV, TIMEOUT, free_port, kvmsentry, require, stop, wait_for_http

SOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "netprograms")


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=60) as r:
        return r.status, r.read().decode()


def serve(cmd, sandboxed, volume, client):
    """Start cmd (argv with {port}), wait for HTTP, run client(port), stop
    with SIGTERM; returns (client's result, exit status, stdout)."""
    port = free_port()
    argv = [a.format(port=port) for a in cmd]
    if sandboxed:
        argv = kvmsentry("--network=host", "-v", "%s:%s:ro" % (volume, volume), "--", *argv)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        wait_for_http(port, proc)
        result = client(port)
    finally:
        status = stop(proc)
    return result, status, proc.stdout.read().decode()


def test_node_http_server_net_client_child_process():
    require("node")

    def client(port):
        return [get(port, p) for p in ("/a", "/child", "/net", "/b")]

    cmd = ["/usr/bin/node", os.path.join(SOURCES, "node_http_server.js"), "{port}"]
    native = serve(cmd, False, SOURCES, client)
    boxed = serve(cmd, True, SOURCES, client)
    assert boxed[0] == [(200, "hello from node /a\n"), (200, "child says 42\n"),
                        (200, "net client got: hello from node /inner\n"),
                        (200, "hello from node /b\n")]
    assert boxed == native
    assert boxed[1:] == (0, "listening\nSIGTERM: closing\n")


def test_java_httpserver_eight_worker_threads(tmp_path):
    require("java", "javac")
    subprocess.run(["javac", "-d", str(tmp_path), os.path.join(SOURCES, "EightThreadServer.java")],
                   check=True, timeout=TIMEOUT)

    def client(port):
        # 64 requests, 16 at a time, on a fixed pool of 8 workers.
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(lambda i: get(port, "/r%d" % i), range(64)))
        assert all(status == 200 for status, _ in replies)
        paths = sorted(text.split()[2] for _, text in replies)
        assert paths == sorted("/r%d" % i for i in range(64))
        # Each request got its own number from the server's counter (the
        # start-up probe may have made one or more requests before).
        counts = sorted(int(text.split()[1]) for _, text in replies)
        assert counts == list(range(counts[0], counts[0] + 64)), counts
        return get(port, "/threads"), counts[-1]

    cmd = ["/usr/bin/java", "-cp", str(tmp_path), "EightThreadServer", "{port}"]
    native = serve(cmd, False, str(tmp_path), client)
    boxed = serve(cmd, True, str(tmp_path), client)
    for (threads, last), status, out in (native, boxed):
        assert threads[0] == 200 and 2 <= int(threads[1]) <= 8, threads  # several, at most 8
        assert status == 128 + signal.SIGTERM            # the JVM's exit on SIGTERM
        assert out == "listening\nstopped after %d requests\n" % last
