/* quant/qtypes.c — not written yet */
typedef int plumb_placeholder_qtypes;
