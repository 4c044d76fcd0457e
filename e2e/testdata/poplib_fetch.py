"""Fetch a whole POP3 mailbox with Python's poplib for popwire's end-to-end tests.

Usage: poplib_fetch.py MODE HOST PORT CAFILE USER OUTDIR
MODE is "ssl" (POP3_SSL), "stls" (POP3 then stls()) or "plain". The password is read from the
environment variable POP_PASSWORD so that it never appears in a process listing; a non-empty
POP_SOURCE_ADDRESS is the local address to connect from. Writes OUTDIR/retrN for each message,
OUTDIR/list, OUTDIR/uidl and OUTDIR/top1, then sends QUIT.
"""

import os
import poplib
import socket
import ssl
import sys

# Messages of the test mailbox have lines far longer than poplib's default 2048-byte limit.
poplib._MAXLINE = 1 << 20


class SourceMixin:
    """Connects from the local address in POP_SOURCE_ADDRESS (poplib has no such option)."""

    def _create_socket(self, timeout):
        source = os.environ.get("POP_SOURCE_ADDRESS", "")
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(source, 0) if source else None)
        if isinstance(self, poplib.POP3_SSL):
            sock = self.context.wrap_socket(sock, server_hostname=self.host)
        return sock


class POP3(SourceMixin, poplib.POP3):
    pass


class POP3_SSL(SourceMixin, poplib.POP3_SSL):
    pass


def main():
    mode, host, port, cafile, user, outdir = sys.argv[1:7]
    port = int(port)
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    if mode == "ssl":
        conn = POP3_SSL(host, port, context=context, timeout=120)
    else:
        conn = POP3(host, port, timeout=120)
        if mode == "stls":
            conn.stls(context)
    conn.user(user)
    conn.pass_(os.environ["POP_PASSWORD"])

    def save(name, lines):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(b"".join(line + b"\r\n" for line in lines))

    count, _ = conn.stat()
    for n in range(1, count + 1):
        _, lines, _ = conn.retr(n)
        save("retr%d" % n, lines)
    save("list", conn.list()[1])
    save("uidl", conn.uidl()[1])
    save("top1", conn.top(1, 0)[1])
    conn.quit()


if __name__ == "__main__":
    main()
