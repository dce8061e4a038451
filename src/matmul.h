/* src/matmul.h */
