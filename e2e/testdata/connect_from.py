"""Connect to HOST:PORT from the local address SOURCE and relay stdin and stdout over it.

Usage: connect_from.py SOURCE HOST PORT
A fetchmail plugin (fetchmail --plugin "connect_from.py SOURCE %h %p"): fetchmail cannot choose
the local address of its connection, so popwire's end-to-end tests make it through this relay.
End of stdin half-closes the connection; the server's end of it closes stdout.
"""

import os
import socket
import sys
import threading


def upload(sock):
    while True:
        data = os.read(0, 65536)
        if not data:
            sock.shutdown(socket.SHUT_WR)
            return
        sock.sendall(data)


def download(sock):
    while True:
        data = sock.recv(65536)
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]


def main():
    source, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sock = socket.create_connection((host, port), 120, source_address=(source, 0))
    sock.settimeout(None)
    threading.Thread(target=upload, args=(sock,), daemon=True).start()
    download(sock)
    os.close(1)


if __name__ == "__main__":
    main()
