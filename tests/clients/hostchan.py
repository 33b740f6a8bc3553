"""Host side of the lab's host channel: the guest's second serial port
(/dev/ttyS1), which lab/run.py exposes as a TCP server on 127.0.0.1:$LAB_PORT
while a suite with a tests/host/<suite> helper runs.

Protocol (lines end in '\\n'; the guest side is tests/clients/hostchan.sh):
  guest: @@HC-HELLO <suite>     repeated until the host answers
  host:  @@HC-GO
  guest: @@HC-FILE <name> <size>  then <size> raw bytes
  host:  @@HC-GOT <name>
  guest: @@HC-RELAY             gdbserver now owns the port: bytes from here
                                on are the gdb remote protocol
  guest: @@HC-BYE
"""
import os
import select
import socket
import sys
import time


class Channel:
    def __init__(self, port=None, timeout=120):
        port = int(port or os.environ["LAB_PORT"])
        self.timeout = timeout
        deadline = time.time() + 30
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), 5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.sock.settimeout(timeout)
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("guest closed the channel")
        self.buf += data

    def line(self):
        """Next '@@HC-' line; anything else before it is noise."""
        while True:
            while b"\n" not in self.buf:
                self._fill()
            raw, self.buf = self.buf.split(b"\n", 1)
            text = raw.decode("latin-1").strip("\r")
            i = text.find("@@HC-")
            if i >= 0:
                return text[i:]

    def hello(self):
        """Wait for the guest's hello, answer, return the suite it names."""
        while True:
            text = self.line()
            if text.startswith("@@HC-HELLO"):
                self.sock.sendall(b"@@HC-GO\n")
                # The guest may have sent more hellos before it saw GO.
                return text.split()[1] if len(text.split()) > 1 else ""

    def expect(self, what):
        """Wait for a line starting with 'what', skipping repeated hellos."""
        while True:
            text = self.line()
            if text.startswith("@@HC-HELLO"):
                continue
            if not text.startswith(what):
                raise RuntimeError("expected %s from the guest, got %r" % (what, text))
            return text

    def recv_file(self, dest_dir):
        _, name, size = self.expect("@@HC-FILE").split()
        size = int(size)
        while len(self.buf) < size:
            self._fill()
        data, self.buf = self.buf[:size], self.buf[size:]
        path = os.path.join(dest_dir, os.path.basename(name))
        with open(path, "wb") as f:
            f.write(data)
        self.sock.sendall(("@@HC-GOT %s\n" % name).encode())
        return path

    def relay(self, inp, out):
        """Copy bytes both ways between the guest and a local pair of file
        descriptors (gdb's 'target remote | ...' pipe) until either closes."""
        if self.buf:
            os.write(out, self.buf)
            self.buf = b""
        self.sock.setblocking(False)
        while True:
            r, _, _ = select.select([self.sock, inp], [], [], self.timeout)
            if not r:
                raise TimeoutError("host channel idle for %ds" % self.timeout)
            if self.sock in r:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    data = None
                if data == b"":
                    return
                if data:
                    os.write(out, data)
            if inp in r:
                data = os.read(inp, 65536)
                if not data:
                    return
                self.sock.sendall(data)


def main():
    """'hostchan.py relay': gdb's 'target remote | python3 hostchan.py relay'.
    Waits for the guest's hello and @@HC-RELAY, then relays stdin/stdout."""
    if sys.argv[1:] != ["relay"]:
        sys.exit("usage: hostchan.py relay")
    ch = Channel()
    ch.hello()
    ch.expect("@@HC-RELAY")
    ch.relay(sys.stdin.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    main()
