"""A fault-injecting HTTP proxy for tests: it sits in front of a real server and fails on cue.

The API backend's failure handling is tested against the real llama.cpp server, not a mock of the
openai client, so what is proven is what the client library and our code do with real HTTP. The proxy
speaks just enough HTTP/1.1 for that: one request per connection, the response relayed line by line
so that a streamed answer can be counted in server-sent events and cut off after any of them.

Faults (set on ``proxy.faults`` at any time, read per request):
- ``fail_status`` / ``fail_times``: answer that status (429, 503, 400...) this many times, then pass through,
  with the API key the client sent in the message when ``echo_key``;
- ``delay_s``: wait this long before relaying the response (a slowed server);
- ``cut_after_events``: relay this many events, then drop the connection (a crashed server), or end the
  body properly when ``cut_cleanly`` (a server that just stops, without an error);
- ``stall_after_events``: relay this many events, then go silent for ``delay_s`` (a hung server).
``stop()`` closes the listening socket so connections are refused; ``start()`` listens again on the
same port. ``requests`` lists the paths of the requests that reached the proxy, to count retries.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade"}


@dataclass
class Faults:
    fail_status: int = 0
    fail_times: int = 0
    retry_after_ms: int | None = 50  # sent with failures; None: no Retry-After header at all
    echo_key: bool = False  # put the request's API key in the failure's message, as some servers do
    delay_s: float = 0.0
    cut_after_events: int | None = None
    cut_cleanly: bool = False
    stall_after_events: int | None = None


class FaultyProxy:
    """A proxy from ``127.0.0.1:port`` to ``upstream`` (``http://host:port``), failing as ``faults`` say."""

    def __init__(self, upstream: str, port: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults = Faults()
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"proxy": self})
        server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        # stop() waits for requests in flight: one abandoned by its client (a timeout test) must not
        # reach the server during the next test, where llama.cpp would let it interrupt that test's stream.
        server.daemon_threads = False
        self.port = server.server_address[1]
        self._server = server
        # A short poll interval: stop() waits up to one interval, and tests stop a proxy each.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="faulty-proxy", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: from now on connections to the port are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _take_failure(self) -> int:
        with self._lock:
            if self.faults.fail_times <= 0:
                return 0
            self.faults.fail_times -= 1
            return self.faults.fail_status

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultyProxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: the tests assert on ``proxy.requests``

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._relay_quietly()

    def do_POST(self) -> None:  # noqa: N802
        self._relay_quietly()

    def _relay_quietly(self) -> None:
        try:
            self._relay()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (its read timeout): nothing left to tell it

    def _relay(self) -> None:
        proxy, faults = self.proxy, self.proxy.faults
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with proxy._lock:  # noqa: SLF001 - the proxy and its handler are one unit
            proxy.requests.append(self.path)
        self.close_connection = True
        status = proxy._take_failure()  # noqa: SLF001
        if status:
            key = self.headers.get("Authorization", "").removeprefix("Bearer ") if faults.echo_key else ""
            self._send_failure(status, faults.retry_after_ms, key)
            return
        if faults.delay_s and faults.stall_after_events is None:
            time.sleep(faults.delay_s)
            if self._client_left():
                return
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=300)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self._relay_body(response, faults)
        finally:
            upstream.close()

    def _client_left(self) -> bool:
        """Whether the client closed the connection (it timed out while we waited)."""
        self.connection.setblocking(False)
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False  # connected, nothing to read: still waiting for us
        except OSError:
            return True
        finally:
            self.connection.setblocking(True)

    def _relay_body(self, response: http.client.HTTPResponse, faults: Faults) -> None:
        """Relay the body one server-sent event at a time (a blank line ends an event)."""
        events, event = 0, b""
        while True:
            line = response.readline()
            if not line:
                break
            event += line
            if line.strip():
                continue
            self._chunk(event)
            events, event = events + 1, b""
            if events == faults.stall_after_events:
                time.sleep(faults.delay_s)
            if events == faults.cut_after_events:
                if faults.cut_cleanly:
                    break
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # mid-body, no last chunk: a broken stream
                return
        if event:
            self._chunk(event)
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_failure(self, status: int, retry_after_ms: int | None, key: str) -> None:
        message = f"injected {status}" + (f": incorrect API key provided: {key}" if key else "")
        body = json.dumps({"error": {"message": message, "type": "injected"}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        if retry_after_ms is not None:
            self.send_header("retry-after-ms", str(retry_after_ms))
        self.end_headers()
        self.wfile.write(body)
