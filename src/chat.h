/*
 * chat.h — Qwen3 ChatML rendering and parsing of generated replies
 * (plumb_chat_format(), plumb_chat_parse() in plumb.h; plumb_chat(3)).
 *
 * Rendering gives, byte for byte, what the chat template shipped in Qwen3
 * GGUF files (tokenizer.chat_template) renders with Jinja2:
 *
 *   tools            a system turn: the first message's content (when it is
 *                    a system message) + "\n\n", then the "# Tools" frame with
 *                    one line per tool inside <tools></tools>, each the tool
 *                    as Jinja2's tojson writes it (keys sorted, ", " and
 *                    ": " separators, non-ASCII and < > & ' as \uXXXX)
 *   system, user     <|im_start|>ROLE\nCONTENT<|im_end|>\n
 *   tool             inside a user turn, consecutive tool messages sharing it:
 *                    <|im_start|>user\n<tool_response>\nCONTENT\n</tool_response>
 *                    [\n<tool_response>\n...\n</tool_response>]<|im_end|>\n
 *   assistant        reasoning_content, or the <think> block split off the
 *                    content; it is kept (as <think>\nR\n</think>\n\n) only for
 *                    turns after the last real user query (a user message
 *                    that is not itself a <tool_response> block), and there
 *                    only when non-empty or on the final message.  Then each
 *                    tool call as <tool_call>\n{"name": "N", "arguments": A}
 *                    \n</tool_call>, A as written when a string, else tojson.
 *   generation       <|im_start|>assistant\n, plus <think>\n\n</think>\n\n
 *                    when thinking is off (the template's enable_thinking).
 *
 * keep_reasoning counts every assistant turn as after the last query: a
 * transcript rendered once stays a prefix of itself after a new user
 * message is added, so a session can reuse its whole KV cache.
 *
 * Parsing splits a generated reply as the template would split it back
 * (reasoning before the first </think>, answer after the last), then finds
 * each <tool_call> block in the answer.  The JSON object is delimited by
 * matching its brackets outside strings (a '<' outside a string stops it),
 * so "</tool_call>" inside a string does not end the call; when that object
 * does not parse, the block ends at the first </tool_call>, or unclosed at
 * the next <tool_call>.  The bracket scans of objects that fail are what
 * could make a reply cost quadratic time, so their total is bounded by twice
 * the reply length; past that, an object ends before the next tag.  The
 * module holds no state.
 */
#ifndef PLUMB_CHAT_H
#define PLUMB_CHAT_H

#include "plumb.h"

#endif
