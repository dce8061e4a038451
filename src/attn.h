/* src/attn.h */
