import sys
print("naïve café, 東京")
sys.stdout.flush()
sys.stdout.buffer.write(b"bad \xff\xfe bytes\x00end\n")
