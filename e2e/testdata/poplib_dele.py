"""Retrieve and delete every message, then vanish without QUIT (popwire's end-to-end tests).

Usage: poplib_dele.py HOST PORT USER
The password is read from the environment variable POP_PASSWORD. The process exits without
sending QUIT, so by RFC 1939 §6 the server must not remove the messages.
"""

import os
import poplib
import sys

poplib._MAXLINE = 1 << 20


def main():
    host, port, user = sys.argv[1:4]
    conn = poplib.POP3(host, int(port), timeout=60)
    conn.user(user)
    conn.pass_(os.environ["POP_PASSWORD"])
    conn.uidl()
    count, _ = conn.stat()
    for n in range(1, count + 1):
        conn.retr(n)
        conn.dele(n)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
