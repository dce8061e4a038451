/*
 * protocol.h — the Tongyi DeepResearch agent protocol as text: the system
 * prompt with its <tools> block, the question with uploaded files, the
 * tool call read out of a model reply, the <answer>, the forced-answer
 * request, and a lenient JSON reader for what the model writes.
 *
 * The shapes follow the reference agent (Alibaba-NLP/DeepResearch,
 * inference/prompt.py and react_agent.py): the tool names, parameter names,
 * types, minItems and required lists are the reference's, the `# Tools`
 * frame is Qwen's Hermes template verbatim, and the prompt ends with
 * "Current date: " and the date, no newline.  The role paragraph and the
 * tool descriptions are our own words.
 *
 * A reply is handled as the reference does: the text from the first
 * <tool_response> on is cut (the model sometimes invents observations) and
 * the rest stripped; only the first <tool_call>...</tool_call> counts, found
 * anywhere in the reply (inside <think> too); the answer is the text
 * between the first <answer> and the next </answer>.  Unlike the reference,
 * the call is dispatched on its parsed "name" (a search for "python" is a
 * search), and the JSON reader accepts more than json5 does, so it only
 * ever turns errors into calls.
 *
 * Untrusted input: the reply is capped (PROTOCOL_MAX_CALL bytes of call
 * text, PROTOCOL_MAX_DEPTH levels of nesting); over the caps the call is the
 * "not a valid JSON" error, never a failure of the run.
 */
#ifndef PLUMB_AGENT_PROTOCOL_H
#define PLUMB_AGENT_PROTOCOL_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "tools.h"

#define PROTOCOL_MAX_CALL (1u << 20) /* bytes between <tool_call> and </tool_call> */
#define PROTOCOL_MAX_DEPTH 64        /* nesting of arrays and objects in a call */

/* The message that replaces the last one when a budget runs out; it ends
 * with the reference's answer format. */
#define PROTOCOL_FORCED_ANSWER                                                             \
    "You have reached the limit of the resources this research may use. Do not call any "  \
    "more tools. Based on everything gathered above, think it over once more and give "    \
    "the answer you consider most likely, in this format:"                                 \
    "<think>your final thinking</think>\n<answer>your answer</answer>"

/* The system prompt: our role paragraph, the <tools> block of the tools t
 * enables (all five when t is NULL), the call format, "Current date: "
 * date.  Appended to out. */
int protocol_system_prompt(const AgentTools *t, const char *date, Buf *out);

/* The user's first message: the question, after
 * "(Uploaded N file: ['a.txt', ...])\n\n" when files were given. */
int protocol_question(const char *question, const char *const *files, size_t n_files,
                      Buf *out);

/* The reply as it is kept: cut before the first <tool_response>, then
 * stripped of whitespace at both ends (Python's str.strip()).  Appended to
 * out. */
int protocol_clean_reply(const char *text, size_t len, Buf *out);

typedef enum CallKind {
    CALL_NONE = 0,  /* the reply holds no complete <tool_call>...</tool_call> */
    CALL_TOOL = 1,  /* run tool `name` with `args` (and `code`) */
    CALL_ERROR = 2, /* the call cannot be run: `error` is the tool response */
} CallKind;

typedef struct ToolCall {
    CallKind kind;
    char *name;   /* CALL_TOOL: the tool's name (malloc'd) */
    json_t *args; /* CALL_TOOL: the arguments, a JSON object (owned reference) */
    char *code;   /* CALL_TOOL, PythonInterpreter: the code (stripped), else NULL */
    char *error;  /* CALL_ERROR: the text the model gets back (malloc'd) */
} ToolCall;

/* Find and read the first tool call of a (cleaned) reply.  t decides which
 * names exist (NULL: all five); an unknown or disabled name gives
 * "Error: Tool NAME not found".  A malformed call is a CALL_ERROR, not an
 * error of this function; it fails only for out of memory. */
int protocol_parse_call(const char *reply, const AgentTools *t, ToolCall *call,
                        PlumbError *err);
void protocol_call_free(ToolCall *call);

/* 1 and *answer (malloc'd, as written) when the reply has both <answer> and
 * </answer>; 0 when not; negative for out of memory. */
int protocol_answer(const char *reply, char **answer);

/* Lenient JSON: turn what the model wrote into strict JSON.  Reads one value
 * from text[0..len) after any whitespace, comments and a ``` fence (when the
 * text does not start with a value, from its first '{'); accepts single
 * quotes, unquoted keys, trailing and missing commas, comments, hex, '+'
 * and leading- or trailing-dot numbers, Python's True/False/None, raw
 * control characters in strings, and closes brackets left open at the end;
 * ignores what follows the value.  Appends the strict JSON to out; *used
 * (may be NULL) gets the bytes read.  PLUMB_EFORMAT when there is no value
 * to be had, PLUMB_ENOMEM. */
int protocol_json5(const char *text, size_t len, Buf *out, size_t *used);
/* protocol_json5 then jansson: a new reference, or NULL. */
json_t *protocol_json_loads(const char *text, size_t len);

/* The URLs (http:// or https://) written in text that no tool fetched: not
 * among t's sources from index `from` on (as asked or after redirects, a
 * trailing '/' ignored).  Each distinct one is appended, in order, to the
 * JSON array out.  PLUMB_ENOMEM. */
int protocol_unverified(const char *text, const AgentTools *t, size_t from, json_t *out);

#endif
