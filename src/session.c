/* src/session.c — not written yet */
typedef int plumb_placeholder_session;
