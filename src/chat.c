/* src/chat.c — not written yet */
typedef int plumb_placeholder_chat;
