"""A DC-09 sender that writes its frames and reads none of the replies until told to.

Node cannot shrink a TCP socket's buffers, and on loopback the kernel would otherwise hold
megabytes of replies before any reached the gateway's own memory. This client asks for the
smallest receive buffer and segment size the kernel allows, so the replies it does not read back
up into the gateway after a few kilobytes.

argv: the gateway's TCP port. stdin: one line, the frames in hex; then a line `read` to start
reading. stdout: the local port on a line of its own, then every byte received, as received.
"""

import socket
import sys
import threading

port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# Both before connect: the window and the segment size are agreed at the handshake.
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 88)
s.connect(("127.0.0.1", port))
print(s.getsockname()[1], flush=True)

frames = bytes.fromhex(sys.stdin.readline().strip())


def send():
    try:
        s.sendall(frames)
    except OSError:
        pass


# Writing blocks once the gateway stops reading; the order to read must still get through.
threading.Thread(target=send, daemon=True).start()

if sys.stdin.readline().strip() != "read":
    sys.exit(0)
out = sys.stdout.buffer
while True:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk:
        break
    out.write(chunk)
    out.flush()
