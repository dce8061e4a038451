/* src/threadpool.h */
