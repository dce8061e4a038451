import os, time
n = 0
try:
    while n < 1000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
    print("not contained:", n)
except OSError as e:
    print("fork refused after fewer than 64:", n < 64)
