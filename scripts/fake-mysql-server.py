#!/usr/bin/env python3
"""A hostile fake MySQL server for the TLS-before-credentials tests (not a real server).

Usage: scripts/fake-mysql-server.py --log FILE [--scenario clear_password|dialog|caching_sha2]
                                    [--tls-cert PEM --tls-key PEM]

Listens on a free 127.0.0.1 port and prints that port on the first line of stdout. For every
connection it sends a protocol-10 handshake WITHOUT the CLIENT_SSL capability (so TLS cannot be
negotiated), then tries to get the password:
  clear_password  AuthSwitchRequest to mysql_clear_password (the client sends the password as is)
  dialog          AuthSwitchRequest to dialog with a password question (also cleartext)
  caching_sha2    announces caching_sha2_password and answers the scramble with "perform full
                  authentication" (0x01 0x04): a client that believes the connection is secure
                  sends the password in clear; one that asks for the RSA key (0x02) gets an error
With --tls-cert/--tls-key it offers CLIENT_SSL instead and, after the client's SSLRequest, runs
the same exchange inside TLS (then the log holds the decrypted bytes, marked "recv-tls"): the
control case, where sending the password for a cleartext method is legitimate.
Every byte received is appended to FILE as hex, one line per read ("conn N recv HEX"), then
"conn N closed" when the client has gone; the tests search these bytes for the password. After
the client's answer to the switch it sends ERR 1045. Runs until killed (SIGTERM).
"""
import argparse
import os
import socket
import struct
import sys
import threading

CLIENT_LONG_PASSWORD = 0x1  # also "CLIENT_MYSQL" for MariaDB clients: no MariaDB extended caps
CLIENT_LONG_FLAG = 0x4
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800  # deliberately NOT offered
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_MULTI_STATEMENTS = 0x10000
CLIENT_MULTI_RESULTS = 0x20000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_CONNECT_ATTRS = 0x100000
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000

CAPABILITIES = (CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41
                | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS
                | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS
                | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
assert not CAPABILITIES & CLIENT_SSL

log_lock = threading.Lock()


def log(path, line):
    with log_lock:
        with open(path, "a") as f:
            f.write(line + "\n")
            f.flush()


class Conn:
    def __init__(self, sock, n, path):
        self.sock, self.n, self.path = sock, n, path
        self.buffer = b""
        self.tls = False

    def recv_some(self):
        data = self.sock.recv(65536)
        if data:
            log(self.path, f"conn {self.n} {'recv-tls' if self.tls else 'recv'} {data.hex()}")
        return data

    def read_packet(self):
        while True:
            if len(self.buffer) >= 4:
                length = int.from_bytes(self.buffer[:3], "little")
                if len(self.buffer) >= 4 + length:
                    seq = self.buffer[3]
                    payload = self.buffer[4:4 + length]
                    self.buffer = self.buffer[4 + length:]
                    return seq, payload
            data = self.recv_some()
            if not data:
                return None, None
            self.buffer += data

    def send_packet(self, seq, payload):
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([seq & 0xFF]) + payload)

    def drain(self):
        """Record whatever else the client sends until it closes."""
        try:
            while self.recv_some():
                pass
        except OSError:
            pass


def handshake(plugin, scramble, capabilities):
    p = bytes([10]) + b"5.7.99-fake\x00" + struct.pack("<I", 4242)
    p += scramble[:8] + b"\x00"
    p += struct.pack("<H", capabilities & 0xFFFF)
    p += bytes([45]) + struct.pack("<H", 0x0002) + struct.pack("<H", capabilities >> 16)
    p += bytes([len(scramble) + 1]) + b"\x00" * 10
    p += scramble[8:] + b"\x00"
    p += plugin.encode() + b"\x00"
    return p


def err_packet(code, state, message):
    return b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + message.encode()


def serve(conn, scenario, tls_context):
    scramble = os.urandom(20).replace(b"\x00", b"\x01")
    first_plugin = "caching_sha2_password" if scenario == "caching_sha2" else "mysql_native_password"
    capabilities = CAPABILITIES | (CLIENT_SSL if tls_context else 0)
    conn.send_packet(0, handshake(first_plugin, scramble, capabilities))
    seq, response = conn.read_packet()  # HandshakeResponse41, or an SSLRequest (32 bytes) with CLIENT_SSL
    if response is None:
        return
    if tls_context and len(response) == 32 and int.from_bytes(response[:4], "little") & CLIENT_SSL:
        conn.sock = tls_context.wrap_socket(conn.sock, server_side=True)
        conn.tls = True
        seq, response = conn.read_packet()
        if response is None:
            return
    seq += 1
    if scenario == "clear_password":
        conn.send_packet(seq, b"\xfe" + b"mysql_clear_password\x00")
    elif scenario == "dialog":
        # dialog's first packet: 4 = "password question" (bit 0 clear: more may follow)
        conn.send_packet(seq, b"\xfe" + b"dialog\x00" + b"\x04Password: ")
    else:  # caching_sha2: the scramble came with the response; ask for full authentication
        conn.send_packet(seq, b"\x01\x04")
    seq, answer = conn.read_packet()
    if answer is None:
        return
    conn.send_packet(seq + 1, err_packet(1045, "28000", "Access denied (fake server)"))
    conn.drain()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--scenario", default="clear_password", choices=["clear_password", "dialog", "caching_sha2"])
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    tls_context = None
    if args.tls_cert:
        import ssl
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)
    n = 0
    while True:
        sock, _ = listener.accept()
        n += 1
        log(args.log, f"conn {n} open")

        def run(sock=sock, n=n):
            c = Conn(sock, n, args.log)
            try:
                serve(c, args.scenario, tls_context)
            except OSError:
                pass
            finally:
                sock.close()
                log(args.log, f"conn {n} closed")

        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
