import socket
# @PORT@ is a listener the test started on the host's loopback.
for host, port in (("1.1.1.1", 53), ("127.0.0.1", @PORT@), ("localhost", @PORT@)):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
        print("connected")
    except OSError:
        print("no connection")
    finally:
        s.close()
try:
    socket.create_connection(("example.com", 80), timeout=3)
    print("connected")
except OSError:
    print("no connection")
