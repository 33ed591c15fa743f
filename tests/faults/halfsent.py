"""Half-sent gRPC requests over raw HTTP/2 (python3-h2): a stream that
declares a large message, sends most of it and then stops, holding
whatever the server buffers for it.  Used by faults.abuse; run it alone to
measure:  python3 -m tests.faults.halfsent HOST:PORT CONNS STREAMS."""
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

DECLARED = 1024 * 1024 - 64      # the message length each stream declares


class HalfSentConnection:
    """One HTTP/2 connection with ${streams} half-sent requests to ${path}."""

    def __init__(self, host, port, streams, path, tls=None, send=None):
        self.sock = socket.create_connection((host, port), timeout=10)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.pending = {}            # stream id -> bytes still to send
        self.closed = False
        self.why = None
        body = struct.pack(">BI", 0, DECLARED) + b"\x0a" * (send or DECLARED - 4096)
        for _ in range(streams):
            sid = self.conn.get_next_available_stream_id()
            try:
                self.conn.send_headers(sid, [
                    (":method", "POST"), (":scheme", "http"),
                    (":path", path), (":authority", f"{host}:{port}"),
                    ("content-type", "application/grpc"), ("te", "trailers"),
                ])
            except h2.exceptions.ProtocolError:
                break            # the server's stream limit
            self.pending[sid] = body
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            try:
                self.sock.settimeout(10)
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def pump(self, seconds):
        """Send what the flow-control windows allow, read what comes."""
        deadline = time.monotonic() + seconds
        self.sock.settimeout(0.05)
        while not self.closed and time.monotonic() < deadline:
            for sid, rest in list(self.pending.items()):
                try:
                    n = min(len(rest), self.conn.local_flow_control_window(sid),
                            self.conn.max_outbound_frame_size)
                except (h2.exceptions.StreamClosedError, KeyError):
                    del self.pending[sid]
                    continue
                if n > 0:
                    self.conn.send_data(sid, rest[:n])
                    self.pending[sid] = rest[n:]
                if not self.pending[sid]:
                    del self.pending[sid]
            self.flush()
            try:
                self.sock.settimeout(0.05)
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            try:
                for ev in self.conn.receive_data(data):
                    if isinstance(ev, (h2.events.StreamReset, h2.events.StreamEnded)):
                        self.pending.pop(ev.stream_id, None)
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        self.closed = True
                        self.why = (ev.error_code, ev.additional_data)
            except h2.exceptions.ProtocolError:
                self.closed = True
            self.flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def flood(host, port, conns, streams, path, tls=None, pump_s=0.3):
    """${conns} connections of ${streams} half-sent requests each."""
    out = []
    for _ in range(conns):
        try:
            c = HalfSentConnection(host, port, streams, path, tls=tls)
        except OSError:
            continue
        out.append(c)
    for _ in range(10):
        for c in out:
            c.pump(pump_s / 10)
    return out


if __name__ == "__main__":
    hostport, conns, streams = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    host, port = hostport.rsplit(":", 1)
    cs = flood(host, int(port), conns, streams,
               "/coffer.v1.SecretsManager/GetSecretValue", pump_s=3)
    print(f"{len(cs)} connections, "
          f"{sum(1 for c in cs if not c.closed)} open; press enter to close")
    sys.stdin.readline()
    for c in cs:
        c.close()
