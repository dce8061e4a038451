/* src/chat.h */
