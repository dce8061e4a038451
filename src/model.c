/* src/model.c — not written yet */
typedef int plumb_placeholder_model;
