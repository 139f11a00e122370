"""Shared start-up of the loopback test servers (cache_mirror.py, registry.py): 127.0.0.1 only, a free port
written atomically to PORTFILE, SIGTERM unblocked."""
import http.server
import os
import signal


def serve(handler, port_file):
    # A parent may start us with signals blocked (the mask survives exec): unblock SIGTERM so `stop` works.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()
