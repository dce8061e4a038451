/* src/gguf_write.h */
