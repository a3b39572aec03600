"""A local HTTP server on 127.0.0.1 standing in for a weights host (the zoo, a mirror): the tests' downloads go
through the real code without the internet."""
from __future__ import annotations

import http.server
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def serving(files: dict[str, bytes]) -> Iterator[str]:
    """Serve `files` ({URL path: body}; the query string is ignored, any other path is a 404) until the block ends;
    yields the base URL ("http://127.0.0.1:PORT"). `files` is read on each request: entries added later are served."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = files.get(self.path.split("?")[0])
            self.send_response(404 if body is None else 200)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            if body is not None:
                self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
