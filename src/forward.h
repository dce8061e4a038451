/* src/forward.h */
