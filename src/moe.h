/* src/moe.h */
