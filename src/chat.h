/*
 * chat.h — Qwen3 ChatML rendering (plumb_chat_format() in plumb.h).
 *
 * The output is what the chat template shipped in Qwen3 GGUF files
 * (tokenizer.chat_template) renders for the same messages without tools:
 *
 *   system, user     <|im_start|>ROLE\nCONTENT<|im_end|>\n
 *   tool             inside a user turn, one block per message, consecutive
 *                    tool messages sharing the turn:
 *                    <|im_start|>user\n<tool_response>\nCONTENT\n</tool_response>
 *                    [\n<tool_response>\n...\n</tool_response>]<|im_end|>\n
 *   assistant        a <think>...</think> block in the content is split off;
 *                    it is kept (re-rendered as <think>\nR\n</think>\n\n) only
 *                    for assistant turns after the last real user query (a
 *                    user message that is not itself a <tool_response>
 *                    block), and there only when non-empty or on the final
 *                    message; earlier turns keep just the answer.
 *   generation       <|im_start|>assistant\n, plus <think>\n\n</think>\n\n
 *                    when thinking is off (the template's enable_thinking).
 *
 * Roles are checked (system, user, assistant, tool; anything else is
 * PLUMB_EINVAL) and content must not be NULL.  No messages at all renders
 * just the generation prompt.  The module holds no state.
 */
#ifndef PLUMB_CHAT_H
#define PLUMB_CHAT_H

#include "plumb.h"

#endif
