import sys
# The traceback's layout changes between Python versions; print one line.
sys.excepthook = lambda kind, value, tb: print(f"{kind.__name__}: {value}", file=sys.stderr)
raise ValueError("no such value")
