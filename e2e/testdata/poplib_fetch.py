"""Fetch a whole POP3 mailbox with Python's poplib for popwire's end-to-end tests.

Usage: poplib_fetch.py MODE HOST PORT CAFILE USER OUTDIR
MODE is "ssl" (POP3_SSL), "stls" (POP3 then stls()) or "plain". The password is read from the
environment variable POP_PASSWORD so that it never appears in a process listing; a non-empty
POP_SOURCE_ADDRESS is the local address to connect from. When POP_SASL is XOAUTH2 or
OAUTHBEARER, logs in instead with that mechanism in the two-step form (the command, then the
response after "+ ") with the bearer token in POP_TOKEN. Writes OUTDIR/retrN for each message,
OUTDIR/list, OUTDIR/uidl and OUTDIR/top1, then sends QUIT.
"""

import base64
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
    sasl = os.environ.get("POP_SASL", "")
    if sasl:
        sasl_login(conn, sasl, user, os.environ["POP_TOKEN"])
    else:
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


def sasl_login(conn, mechanism, user, token):
    """Logs in with XOAUTH2 or OAUTHBEARER (RFC 7628 section 3.1), in two steps."""
    if mechanism == "XOAUTH2":
        raw = "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)
    elif mechanism == "OAUTHBEARER":
        name = user.replace("=", "=3D").replace(",", "=2C")
        raw = "n,a=%s,\x01auth=Bearer %s\x01\x01" % (name, token)
    else:
        raise ValueError("unknown mechanism " + mechanism)
    resp = conn._shortcmd("AUTH " + mechanism)
    if not resp.startswith(b"+ ") and resp != b"+":
        raise poplib.error_proto("AUTH %s answered %r" % (mechanism, resp))
    conn._putcmd(base64.b64encode(raw.encode()).decode())
    resp = conn._getline()[0]
    if resp.startswith(b"+ "):
        # A refusal with an error challenge: complete it (an empty response for XOAUTH2,
        # %x01 for OAUTHBEARER, RFC 7628 section 3.2.3) and report the final answer.
        conn._putcmd("" if mechanism == "XOAUTH2" else "AQ==")
        final = conn._getline()[0]
        raise poplib.error_proto("AUTH %s: challenge %s, then %r" % (
            mechanism, base64.b64decode(resp[2:]).decode(errors="replace"), final))
    if not resp.startswith(b"+OK"):
        raise poplib.error_proto(resp)


if __name__ == "__main__":
    main()
