/* src/kvcache.h */
