"""The official SDKs read the mock upstreams of crates/server/tests/common/upstreams.rs.

Run by `mocks::official_sdks_read_every_mock` in crates/server/tests/agents.rs, which starts
the mocks with this script of replies (in order) and passes their URLs in the environment:

  Anthropic (MG_ANTHROPIC_URL, key MG_KEY): stream with thinking + text + tool_use,
    non-stream text, a 529; count_tokens; models.
  Responses (MG_RESPONSES_URL): stream with reasoning + text + function_call, non-stream text.
  Gemini (MG_GEMINI_URL): stream with a thought + text, non-stream with a functionCall.

Exits non-zero (with a traceback) at the first shape an SDK rejects or reads differently.
"""

import os

import anthropic
import openai
from google import genai
from google.genai import types

KEY = os.environ["MG_KEY"]


def check_anthropic(base):
    c = anthropic.Anthropic(base_url=base, api_key=KEY, max_retries=0)
    with c.messages.stream(
        model="claude-mock", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        msg = s.get_final_message()
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"], msg
    assert msg.content[0].signature, msg
    assert msg.content[2].input == {"city": "Paris"}, msg.content[2]
    assert msg.stop_reason == "tool_use", msg
    assert msg.usage.cache_read_input_tokens == 5 and msg.usage.output_tokens == 9, msg.usage

    msg = c.messages.create(
        model="claude-mock", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == "plain", msg

    try:
        c.messages.create(
            model="claude-mock", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
        raise AssertionError("expected a 529")
    except anthropic.APIStatusError as e:
        assert e.status_code == 529, e
        assert e.body["error"]["type"] == "overloaded_error", e.body

    n = c.messages.count_tokens(model="claude-mock", messages=[{"role": "user", "content": "hi"}])
    assert n.input_tokens == 42, n
    ids = [m.id for m in c.models.list()]
    assert ids == ["mock-model"], ids


def check_responses(base):
    c = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
    with c.responses.stream(model="gpt-mock", input="hi") as s:
        for _ in s:
            pass
        r = s.get_final_response()
    assert [o.type for o in r.output] == ["reasoning", "message", "function_call"], r.output
    assert r.output_text == "streamed text", r.output_text
    assert r.output[2].arguments == '{"cmd":"ls"}', r.output[2]
    assert r.usage.input_tokens_details.cached_tokens == 5, r.usage
    assert r.usage.output_tokens_details.reasoning_tokens == 4, r.usage

    r = c.responses.create(model="gpt-mock", input="hi")
    assert r.output_text == "plain", r


def check_gemini(base):
    c = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base))
    chunks = list(c.models.generate_content_stream(model="gemini-mock", contents="hi"))
    parts = [p for ch in chunks for p in ch.candidates[0].content.parts]
    assert parts[0].thought is True, parts[0]
    text = "".join(p.text or "" for p in parts if not p.thought)
    assert text == "streamed text", text
    assert any(p.thought_signature == b"sig-mock-001" for p in parts), parts
    u = chunks[-1].usage_metadata
    assert (u.cached_content_token_count, u.thoughts_token_count) == (5, 4), u
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP

    r = c.models.generate_content(model="gemini-mock", contents="hi")
    calls = r.function_calls
    assert calls and calls[0].name == "read_file" and calls[0].args == {"path": "a"}, r
    assert c.models.count_tokens(model="gemini-mock", contents="hi").total_tokens == 42


check_anthropic(os.environ["MG_ANTHROPIC_URL"])
check_responses(os.environ["MG_RESPONSES_URL"])
check_gemini(os.environ["MG_GEMINI_URL"])
print("sdk_parse_mocks: all mocks read by the official SDKs")
