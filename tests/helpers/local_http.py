# Copyright (c) mmkd contributors. All rights reserved.
"""A file server on 127.0.0.1 for tests of URL checkpoints."""
import contextlib
import functools
import http.server
import threading


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args):  # keep the test output clean
        pass


@contextlib.contextmanager
def serve_directory(root: str):
    """Serve ``root`` over HTTP on a free port of 127.0.0.1 in a thread.

    Yields:
        str: The base URL, e.g. ``'http://127.0.0.1:43210'``.
    """
    handler = functools.partial(_QuietHandler, directory=root)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05, ), daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
