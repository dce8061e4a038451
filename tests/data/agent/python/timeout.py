import time
print("started")
time.sleep(1000)
print("never")
