/* quant/quant_ref.c — not written yet */
typedef int plumb_placeholder_quant_ref;
