"""Conformance of modelgate's four client dialects with the official Python SDKs (issue #8).

Every client SDK surface -- `openai` chat completions, `openai` responses, `anthropic`
messages, `google-genai` generate_content -- talks to the gateway, which serves each case
from an upstream mock of ANOTHER dialect (OpenAI chat, Anthropic, Gemini, Responses). Each
case asserts what the SDK parsed (text, model, stop reason, usage incl. cached and reasoning
tokens, tool calls, reasoning, typed errors) and, through the driver's inspector, what the
mock received in its own wire shape (tool results with the right call id, images, reasoning
requests, thinking signatures).

Run by `crates/server/tests/sdk_dialects.rs`, which passes in the environment:

    MG_GATEWAY       gateway origin, e.g. http://127.0.0.1:PORT
    MG_API_KEY       a virtual key
    MG_ADMIN_KEY     the admin key (for GET /admin/logs)
    MG_INSPECTOR     the driver's inspector: GET /requests/{upstream}, GET /pixel.png
    MG_UPSTREAM_KEY  the key the providers hold (never the client's)

Models `m-chat`, `m-anthropic`, `m-gemini`, `m-responses` route to the mock of that name;
the error cases use `m-{upstream}-e{status}-{plain|stream}-{client}`, one provider each (an upstream
401 or 429 disables or cools down the provider's key in the gateway).
The mocks answer by marker in the request body (see MARKERS below and the driver).
"""

import base64
import json
import os
import time
import uuid

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gt

try:  # the HTTP client the installed SDKs are built on
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

GATEWAY = os.environ["MG_GATEWAY"]
API_KEY = os.environ["MG_API_KEY"]
ADMIN_KEY = os.environ["MG_ADMIN_KEY"]
INSPECTOR = os.environ["MG_INSPECTOR"]

UPSTREAMS = ("chat", "anthropic", "gemini", "responses")
CLIENTS = ("chat", "responses", "anthropic", "gemini")
# `dialect` / `upstream_dialect` as the request log names them.
DIALECT = {
    "chat": "openai_chat",
    "responses": "openai_responses",
    "anthropic": "anthropic",
    "gemini": "gemini",
}

# MARKERS: keep in step with crates/server/tests/sdk_dialects.rs.
TOOL_RESULT = "MG-TOOL-RESULT"
CASE_TOOL = "MG-CASE-TOOL"
CASE_THINK = "MG-CASE-THINK"
CASE_IMAGE = "MG-CASE-IMAGE"
ERRORS = (400, 401, 429, 529)

DEFAULT_TEXT = "Hello from the mock upstream"
AFTER_TOOL_TEXT = "It is sunny in Paris."
THINKING = "The user wants two plus two."
THOUGHT_TEXT = "Two plus two is four."
IMAGE_TEXT = "I see a red pixel."
TOOL_ARGS = {"city": "Paris", "unit": "celsius"}
# The upstreams' own call ids (the Gemini mock sends none) and thinking signatures.
UPSTREAM_CALL_ID = {"chat": "call_mock_0001", "anthropic": "toolu_mock_0001",
                    "responses": "call_mock_0001", "gemini": None}
MOCK_SIGNATURE = "c2lnLW1vY2stMDAx"

# What each mock reports, in canonical terms: input includes cached tokens, output includes
# reasoning tokens (see MockUsage in common/upstreams.rs and usage() in common/mock.rs).
# Anthropic reports no reasoning count; Gemini and Responses report no cache writes.
USAGE = {
    "chat": dict(input=12, cache_read=2, cache_write=0, output=7, reasoning=3),
    "anthropic": dict(input=29, cache_read=5, cache_write=3, output=9, reasoning=0),
    "gemini": dict(input=29, cache_read=5, cache_write=0, output=9, reasoning=4),
    "responses": dict(input=29, cache_read=5, cache_write=0, output=9, reasoning=4),
}

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
    "required": ["city"],
}


def others(client):
    return [u for u in UPSTREAMS if u != DIALECT_UPSTREAM[client]]


# The upstream mock that speaks a client's own dialect (excluded from its matrix row).
DIALECT_UPSTREAM = {"chat": "chat", "responses": "responses", "anthropic": "anthropic",
                    "gemini": "gemini"}


def model(up):
    return f"m-{up}"


# --- known gateway bugs (kept as strict xfails: they turn into failures once fixed) --------

BUG_RESPONSES_ID = ("formats: a Responses reasoning item shown to an Anthropic client keeps only "
                    "encrypted_content in the sealed signature, not its item id, so the replayed item "
                    "is dropped (the Responses API requires the id)")
BUG_GEMINI_FOREIGN_SIG = ("formats/gemini: reasoning signed by Anthropic or Responses is shown to Gemini "
                          "clients without thoughtSignature (a golden snapshot pins it), so it cannot be "
                          "replayed")


def xfail_if(request, cond, reason):
    if cond:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def err_model(up, status, stream, client):
    return f"m-{up}-e{status}-{'stream' if stream else 'plain'}-{client}"


def nonce():
    return uuid.uuid4().hex[:12]


def n(x):
    return x or 0


# --- the inspector ------------------------------------------------------------------------


def is_generation(up, path):
    return {
        "chat": path.endswith("/chat/completions"),
        "anthropic": path == "/v1/messages",
        "gemini": path.endswith(":generateContent") or path.endswith(":streamGenerateContent"),
        "responses": path == "/v1/responses",
    }[up]


def received(up, tag, generation=True):
    """Requests mock `up` received whose body mentions `tag` (generation requests only)."""
    r = httpx.get(f"{INSPECTOR}/requests/{up}", timeout=10)
    r.raise_for_status()
    return [x for x in r.json()
            if tag in json.dumps(x["body"]) and (not generation or is_generation(up, x["path"]))]


def last_body(up, tag):
    got = received(up, tag)
    assert got, f"mock {up} received no request mentioning {tag}"
    return got[-1]["body"]


PIXEL = httpx.get(f"{INSPECTOR}/pixel.png", timeout=10).content
PIXEL_B64 = base64.b64encode(PIXEL).decode()
PIXEL_DATA_URL = f"data:image/png;base64,{PIXEL_B64}"
PIXEL_URL = f"{INSPECTOR}/pixel.png"


# --- what the upstream must have received, in its own shape -------------------------------


def assert_upstream_tool_turn(up, body, result_text):
    """The follow-up carries the assistant's call and the tool result, in `up`'s shape."""
    want_id = UPSTREAM_CALL_ID[up]
    dump = json.dumps(body)
    if up == "chat":
        msgs = body["messages"]
        calls = [tc for m in msgs if m.get("role") == "assistant" for tc in m.get("tool_calls") or []]
        assert calls, dump
        assert calls[0]["id"] == want_id, dump
        assert calls[0]["function"]["name"] == "get_weather", dump
        assert json.loads(calls[0]["function"]["arguments"]) == TOOL_ARGS, dump
        res = [m for m in msgs if m.get("role") == "tool"]
        assert res and res[0]["tool_call_id"] == want_id, dump
        assert result_text in json.dumps(res[0]["content"]), dump
    elif up == "anthropic":
        blocks = [(m["role"], b) for m in body["messages"] if isinstance(m["content"], list)
                  for b in m["content"]]
        uses = [b for r, b in blocks if r == "assistant" and b["type"] == "tool_use"]
        assert uses and uses[0]["id"] == want_id and uses[0]["name"] == "get_weather", dump
        assert uses[0]["input"] == TOOL_ARGS, dump
        res = [b for r, b in blocks if r == "user" and b["type"] == "tool_result"]
        assert res and res[0]["tool_use_id"] == want_id, dump
        assert result_text in json.dumps(res[0].get("content")), dump
    elif up == "gemini":
        parts = [(c.get("role"), p) for c in body["contents"] for p in c["parts"]]
        calls = [p["functionCall"] for r, p in parts if r == "model" and "functionCall" in p]
        assert calls and calls[0]["name"] == "get_weather" and calls[0]["args"] == TOOL_ARGS, dump
        res = [p["functionResponse"] for r, p in parts if "functionResponse" in p]
        assert res and res[0]["name"] == "get_weather", dump
        assert result_text in json.dumps(res[0]["response"]), dump
    else:
        items = body["input"]
        calls = [i for i in items if i.get("type") == "function_call"]
        assert calls and calls[0]["call_id"] == want_id and calls[0]["name"] == "get_weather", dump
        assert json.loads(calls[0]["arguments"]) == TOOL_ARGS, dump
        res = [i for i in items if i.get("type") == "function_call_output"]
        assert res and res[0]["call_id"] == want_id, dump
        assert result_text in json.dumps(res[0]["output"]), dump


def assert_upstream_tools(up, body):
    """The tool declaration reached the upstream in its shape."""
    dump = json.dumps(body)
    if up == "chat":
        assert body["tools"][0]["function"]["name"] == "get_weather", dump
    elif up == "anthropic":
        assert body["tools"][0]["name"] == "get_weather", dump
        assert body["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string", dump
    elif up == "gemini":
        decls = body["tools"][0]["functionDeclarations"]
        assert decls[0]["name"] == "get_weather", dump
    else:
        assert body["tools"][0]["type"] == "function" and body["tools"][0]["name"] == "get_weather", dump


def assert_upstream_image(up, body, by_url):
    """The image reached the upstream in its shape: inline base64, or the URL."""
    dump = json.dumps(body)
    if up == "chat":
        imgs = [p for m in body["messages"] if isinstance(m["content"], list)
                for p in m["content"] if p.get("type") == "image_url"]
        assert imgs, dump
        assert imgs[0]["image_url"]["url"] == (PIXEL_URL if by_url else PIXEL_DATA_URL), dump
    elif up == "anthropic":
        imgs = [b for m in body["messages"] if isinstance(m["content"], list)
                for b in m["content"] if b["type"] == "image"]
        assert imgs, dump
        src = imgs[0]["source"]
        if by_url:
            assert src == {"type": "url", "url": PIXEL_URL}, dump
        else:
            assert src == {"type": "base64", "media_type": "image/png", "data": PIXEL_B64}, dump
    elif up == "gemini":
        parts = [p for c in body["contents"] for p in c["parts"]]
        if by_url:
            files = [p["fileData"] for p in parts if "fileData" in p]
            assert files and files[0]["fileUri"] == PIXEL_URL, dump
        else:
            inline = [p["inlineData"] for p in parts if "inlineData" in p]
            assert inline and inline[0] == {"mimeType": "image/png", "data": PIXEL_B64}, dump
    else:
        imgs = [p for i in body["input"] if isinstance(i.get("content"), list)
                for p in i["content"] if p.get("type") == "input_image"]
        assert imgs, dump
        assert imgs[0]["image_url"] == (PIXEL_URL if by_url else PIXEL_DATA_URL), dump


def assert_upstream_reasoning_request(up, body, show=True):
    """The client's request for reasoning reached the upstream in its shape; `show`: the
    client asked to see the thoughts too (chat clients cannot say so)."""
    dump = json.dumps(body)
    if up == "chat":
        assert body.get("reasoning_effort") in ("minimal", "low", "medium", "high"), dump
    elif up == "anthropic":
        assert body["thinking"]["type"] in ("enabled", "adaptive"), dump
        if body["thinking"]["type"] == "enabled":
            assert body["thinking"]["budget_tokens"] >= 1024, dump
            assert body["max_tokens"] > body["thinking"]["budget_tokens"], dump
        if show:
            assert body["thinking"].get("display") == "summarized", dump
    elif up == "gemini":
        cfg = body["generationConfig"]["thinkingConfig"]
        assert cfg.get("thinkingBudget", 0) > 0 or cfg.get("thinkingLevel"), dump
        if show:
            assert cfg["includeThoughts"] is True, dump
    else:
        assert body["reasoning"]["effort"] in ("minimal", "low", "medium", "high"), dump
        if show:
            assert body["reasoning"].get("summary") in ("auto", "concise", "detailed"), dump


def assert_upstream_signature(up, body):
    """A replayed reasoning turn reached the upstream with the upstream's own signature."""
    dump = json.dumps(body)
    if up == "anthropic":
        th = [b for m in body["messages"] if m["role"] == "assistant" and isinstance(m["content"], list)
              for b in m["content"] if b["type"] == "thinking"]
        assert th and th[0]["signature"] == MOCK_SIGNATURE and th[0]["thinking"] == THINKING, dump
    elif up == "gemini":
        parts = [p for c in body["contents"] if c.get("role") == "model" for p in c["parts"]]
        assert any(p.get("thoughtSignature") == MOCK_SIGNATURE for p in parts), dump
    elif up == "responses":
        rs = [i for i in body["input"] if i.get("type") == "reasoning"]
        assert rs and rs[0]["encrypted_content"] == f"enc-{MOCK_SIGNATURE}", dump
    else:  # chat has no signatures; the text answer must still be there
        assert THOUGHT_TEXT in dump, dump


# --- usage, per client dialect ------------------------------------------------------------


def assert_chat_usage(u, up):
    e = USAGE[up]
    assert u is not None
    assert u.prompt_tokens == e["input"], u
    assert u.completion_tokens == e["output"], u
    assert u.total_tokens == e["input"] + e["output"], u
    assert n(u.prompt_tokens_details and u.prompt_tokens_details.cached_tokens) == e["cache_read"], u
    assert n(u.completion_tokens_details and u.completion_tokens_details.reasoning_tokens) == e["reasoning"], u


def assert_responses_usage(u, up):
    e = USAGE[up]
    assert u is not None
    assert u.input_tokens == e["input"], u
    assert u.output_tokens == e["output"], u
    assert u.total_tokens == e["input"] + e["output"], u
    assert n(u.input_tokens_details and u.input_tokens_details.cached_tokens) == e["cache_read"], u
    assert n(u.output_tokens_details and u.output_tokens_details.reasoning_tokens) == e["reasoning"], u


def assert_anthropic_usage(u, up):
    e = USAGE[up]
    assert u.input_tokens == e["input"] - e["cache_read"] - e["cache_write"], u
    assert n(u.cache_read_input_tokens) == e["cache_read"], u
    assert n(u.cache_creation_input_tokens) == e["cache_write"], u
    assert u.output_tokens == e["output"], u


def assert_gemini_usage(u, up):
    e = USAGE[up]
    assert u is not None
    assert u.prompt_token_count == e["input"], u
    assert n(u.cached_content_token_count) == e["cache_read"], u
    assert n(u.thoughts_token_count) == e["reasoning"], u
    assert n(u.candidates_token_count) == e["output"] - e["reasoning"], u
    assert u.total_token_count == e["input"] + e["output"], u


# --- clients ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oai():
    c = openai.OpenAI(base_url=f"{GATEWAY}/v1", api_key=API_KEY, max_retries=0, timeout=30)
    yield c
    c.close()


@pytest.fixture(scope="module")
def ant():
    c = anthropic.Anthropic(base_url=GATEWAY, api_key=API_KEY, max_retries=0, timeout=30)
    yield c
    c.close()


@pytest.fixture(scope="module")
def gem():
    return genai.Client(
        api_key=API_KEY,
        http_options=gt.HttpOptions(base_url=GATEWAY, timeout=30_000,
                                    retry_options=gt.HttpRetryOptions(attempts=1)),
    )


CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather",
               "description": "The weather in a city", "parameters": WEATHER_SCHEMA}}]
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
                    "parameters": WEATHER_SCHEMA, "strict": False}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "The weather in a city",
                    "input_schema": WEATHER_SCHEMA}]


def gemini_config(**kw):
    return gt.GenerateContentConfig(
        automatic_function_calling=gt.AutomaticFunctionCallingConfig(disable=True), **kw)


GEMINI_TOOLS = [gt.Tool(function_declarations=[gt.FunctionDeclaration(
    name="get_weather", description="The weather in a city", parameters_json_schema=WEATHER_SCHEMA)])]


# ==========================================================================================
# openai chat completions
# ==========================================================================================

CHAT_UPS = others("chat")


@pytest.mark.parametrize("up", CHAT_UPS)
def test_chat_plain(oai, up):
    tag = nonce()
    r = oai.chat.completions.create(model=model(up), messages=[{"role": "user", "content": f"Say hello {tag}"}])
    assert r.object == "chat.completion"
    assert r.model == model(up)
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == DEFAULT_TEXT
    assert r.choices[0].finish_reason == "stop"
    assert_chat_usage(r.usage, up)
    assert last_body(up, tag).get("stream") in (None, False)


@pytest.mark.parametrize("up", CHAT_UPS)
def test_chat_plain_stream(oai, up):
    tag = nonce()
    chunks = list(oai.chat.completions.create(
        model=model(up), messages=[{"role": "user", "content": f"Say hello {tag}"}],
        stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_TEXT
    assert all(c.model == model(up) for c in chunks)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and not chunks[-1].choices
    assert_chat_usage(usage[0], up)


@pytest.mark.parametrize("up", CHAT_UPS)
def test_chat_tool_call_and_result(oai, up):
    tag = nonce()
    msgs = [{"role": "user", "content": f"{CASE_TOOL} weather in Paris? {tag}"}]
    r = oai.chat.completions.create(model=model(up), messages=msgs, tools=CHAT_TOOLS)
    assert r.choices[0].finish_reason == "tool_calls"
    calls = r.choices[0].message.tool_calls
    assert len(calls) == 1 and calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == TOOL_ARGS
    assert calls[0].id
    assert_upstream_tools(up, last_body(up, tag))

    tag2 = nonce()
    result = f"{TOOL_RESULT} 18 degrees and sunny {tag2}"
    msgs += [r.choices[0].message.model_dump(exclude_none=True),
             {"role": "tool", "tool_call_id": calls[0].id, "content": result}]
    r2 = oai.chat.completions.create(model=model(up), messages=msgs, tools=CHAT_TOOLS)
    assert r2.choices[0].message.content == AFTER_TOOL_TEXT
    assert r2.choices[0].finish_reason == "stop"
    assert_upstream_tool_turn(up, last_body(up, tag2), result)


@pytest.mark.parametrize("up", CHAT_UPS)
def test_chat_tool_call_stream(oai, up):
    tag = nonce()
    msgs = [{"role": "user", "content": f"{CASE_TOOL} weather in Paris? {tag}"}]
    done_events = []
    with oai.chat.completions.stream(model=model(up), messages=msgs, tools=CHAT_TOOLS) as s:
        for ev in s:
            if ev.type == "tool_calls.function.arguments.done":
                done_events.append(ev)
        final = s.get_final_completion()
    assert [e.name for e in done_events] == ["get_weather"]
    assert json.loads(done_events[0].arguments) == TOOL_ARGS
    assert final.choices[0].finish_reason == "tool_calls"
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == TOOL_ARGS

    tag2 = nonce()
    result = f"{TOOL_RESULT} 18 degrees {tag2}"
    msgs += [{"role": "assistant", "content": None, "tool_calls": [
        {"id": call.id, "type": "function",
         "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": result}]
    with oai.chat.completions.stream(model=model(up), messages=msgs, tools=CHAT_TOOLS) as s:
        final2 = s.get_final_completion()
    assert final2.choices[0].message.content == AFTER_TOOL_TEXT
    assert_upstream_tool_turn(up, last_body(up, tag2), result)


@pytest.mark.parametrize("by_url", [False, True], ids=["base64", "url"])
@pytest.mark.parametrize("up", CHAT_UPS)
def test_chat_image(oai, up, by_url):
    tag = nonce()
    r = oai.chat.completions.create(model=model(up), messages=[{"role": "user", "content": [
        {"type": "text", "text": f"{CASE_IMAGE} what is this? {tag}"},
        {"type": "image_url", "image_url": {"url": PIXEL_URL if by_url else PIXEL_DATA_URL}}]}])
    assert r.choices[0].message.content == IMAGE_TEXT
    assert_upstream_image(up, last_body(up, tag), by_url)


@pytest.mark.parametrize("up", CHAT_UPS)
def test_chat_reasoning(oai, up):
    tag = nonce()
    r = oai.chat.completions.create(model=model(up), reasoning_effort="medium", messages=[
        {"role": "user", "content": f"{CASE_THINK} 2+2? {tag}"}])
    msg = r.choices[0].message
    assert msg.content == THOUGHT_TEXT
    assert getattr(msg, "reasoning_content", None) == THINKING, msg
    assert_chat_usage(r.usage, up)
    assert_upstream_reasoning_request(up, last_body(up, tag), show=False)


@pytest.mark.parametrize("up", CHAT_UPS)
def test_chat_reasoning_stream(oai, up):
    tag = nonce()
    chunks = list(oai.chat.completions.create(
        model=model(up), reasoning_effort="medium", stream=True,
        messages=[{"role": "user", "content": f"{CASE_THINK} 2+2? {tag}"}]))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == THINKING
    assert "".join(d.content or "" for d in deltas) == THOUGHT_TEXT


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("status", ERRORS)
@pytest.mark.parametrize("up", CHAT_UPS)
def test_chat_errors(request, oai, up, status, stream):
    want = {400: (openai.BadRequestError, 400), 401: (openai.AuthenticationError, 401),
            429: (openai.RateLimitError, 429), 529: (openai.InternalServerError, 503)}[status]
    with pytest.raises(want[0]) as ei:
        r = oai.chat.completions.create(model=err_model(up, status, stream, "chat"), stream=stream, messages=[
            {"role": "user", "content": f"MG-CASE-ERR{status} {nonce()}"}])
        if stream:
            list(r)
    assert ei.value.status_code == want[1], ei.value
    assert isinstance(ei.value.body, dict) and ei.value.body.get("message"), ei.value.body


# ==========================================================================================
# openai responses
# ==========================================================================================

RESP_UPS = others("responses")


@pytest.mark.parametrize("up", RESP_UPS)
def test_responses_plain(oai, up):
    tag = nonce()
    r = oai.responses.create(model=model(up), input=f"Say hello {tag}")
    assert r.object == "response"
    assert r.status == "completed"
    assert r.model == model(up)
    assert r.output_text == DEFAULT_TEXT
    msgs = [o for o in r.output if o.type == "message"]
    assert len(msgs) == 1 and msgs[0].role == "assistant"
    assert_responses_usage(r.usage, up)


@pytest.mark.parametrize("up", RESP_UPS)
def test_responses_plain_stream(oai, up):
    tag = nonce()
    types_seen = []
    text = ""
    with oai.responses.stream(model=model(up), input=f"Say hello {tag}") as s:
        for ev in s:
            types_seen.append(ev.type)
            if ev.type == "response.output_text.delta":
                text += ev.delta
        final = s.get_final_response()
    assert text == DEFAULT_TEXT
    assert types_seen[0] == "response.created" and types_seen[-1] == "response.completed", types_seen
    assert final.status == "completed" and final.model == model(up)
    assert final.output_text == DEFAULT_TEXT
    assert_responses_usage(final.usage, up)


@pytest.mark.parametrize("up", RESP_UPS)
def test_responses_tool_call_and_result(oai, up):
    tag = nonce()
    first = [{"role": "user", "content": f"{CASE_TOOL} weather in Paris? {tag}"}]
    r = oai.responses.create(model=model(up), input=first, tools=RESPONSES_TOOLS)
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1, r.output
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments) == TOOL_ARGS
    assert calls[0].call_id
    assert r.status == "completed"
    assert_upstream_tools(up, last_body(up, tag))

    tag2 = nonce()
    result = f"{TOOL_RESULT} 18 degrees and sunny {tag2}"
    follow = first + [o.model_dump(exclude_none=True) for o in r.output] + [
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": result}]
    r2 = oai.responses.create(model=model(up), input=follow, tools=RESPONSES_TOOLS)
    assert r2.output_text == AFTER_TOOL_TEXT
    assert_upstream_tool_turn(up, last_body(up, tag2), result)


@pytest.mark.parametrize("up", RESP_UPS)
def test_responses_tool_call_stream(oai, up):
    tag = nonce()
    first = [{"role": "user", "content": f"{CASE_TOOL} weather in Paris? {tag}"}]
    deltas, done = "", []
    with oai.responses.stream(model=model(up), input=first, tools=RESPONSES_TOOLS) as s:
        for ev in s:
            if ev.type == "response.function_call_arguments.delta":
                deltas += ev.delta
            elif ev.type == "response.function_call_arguments.done":
                done.append(ev.arguments)
        final = s.get_final_response()
    assert json.loads(deltas) == TOOL_ARGS
    assert [json.loads(d) for d in done] == [TOOL_ARGS]
    calls = [o for o in final.output if o.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == TOOL_ARGS

    tag2 = nonce()
    result = f"{TOOL_RESULT} 18 degrees {tag2}"
    follow = first + [o.model_dump(exclude_none=True) for o in final.output] + [
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": result}]
    with oai.responses.stream(model=model(up), input=follow, tools=RESPONSES_TOOLS) as s:
        final2 = s.get_final_response()
    assert final2.output_text == AFTER_TOOL_TEXT
    assert_upstream_tool_turn(up, last_body(up, tag2), result)


@pytest.mark.parametrize("by_url", [False, True], ids=["base64", "url"])
@pytest.mark.parametrize("up", RESP_UPS)
def test_responses_image(oai, up, by_url):
    tag = nonce()
    r = oai.responses.create(model=model(up), input=[{"role": "user", "content": [
        {"type": "input_text", "text": f"{CASE_IMAGE} what is this? {tag}"},
        {"type": "input_image", "image_url": PIXEL_URL if by_url else PIXEL_DATA_URL, "detail": "auto"}]}])
    assert r.output_text == IMAGE_TEXT
    assert_upstream_image(up, last_body(up, tag), by_url)


def responses_reasoning_text(items):
    rs = [o for o in items if o.type == "reasoning"]
    assert len(rs) == 1, items
    return "".join(s.text for s in rs[0].summary), rs[0]


@pytest.mark.parametrize("up", RESP_UPS)
def test_responses_reasoning(oai, up):
    tag = nonce()
    first = [{"role": "user", "content": f"{CASE_THINK} 2+2? {tag}"}]
    r = oai.responses.create(model=model(up), input=first,
                             reasoning={"effort": "medium", "summary": "auto"},
                             include=["reasoning.encrypted_content"])
    text, item = responses_reasoning_text(r.output)
    assert text == THINKING
    assert r.output_text == THOUGHT_TEXT
    assert_responses_usage(r.usage, up)
    assert_upstream_reasoning_request(up, last_body(up, tag))
    if up != "chat":  # chat upstreams have no signature to carry
        assert item.encrypted_content, item

    # The reasoning item goes back on the next turn: the upstream sees its own signature.
    tag2 = nonce()
    follow = first + [o.model_dump(exclude_none=True) for o in r.output] + [
        {"role": "user", "content": f"And 3+3? {tag2}"}]
    r2 = oai.responses.create(model=model(up), input=follow,
                              reasoning={"effort": "medium", "summary": "auto"})
    assert r2.status == "completed"
    assert_upstream_signature(up, last_body(up, tag2))


@pytest.mark.parametrize("up", RESP_UPS)
def test_responses_reasoning_stream(oai, up):
    tag = nonce()
    summary = ""
    with oai.responses.stream(model=model(up), input=f"{CASE_THINK} 2+2? {tag}",
                              reasoning={"effort": "medium", "summary": "auto"}) as s:
        for ev in s:
            if ev.type == "response.reasoning_summary_text.delta":
                summary += ev.delta
        final = s.get_final_response()
    assert summary == THINKING
    text, _ = responses_reasoning_text(final.output)
    assert text == THINKING
    assert final.output_text == THOUGHT_TEXT


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("status", ERRORS)
@pytest.mark.parametrize("up", RESP_UPS)
def test_responses_errors(request, oai, up, status, stream):
    want = {400: (openai.BadRequestError, 400), 401: (openai.AuthenticationError, 401),
            429: (openai.RateLimitError, 429), 529: (openai.InternalServerError, 503)}[status]
    with pytest.raises(want[0]) as ei:
        r = oai.responses.create(model=err_model(up, status, stream, "responses"), stream=stream, input=f"MG-CASE-ERR{status} {nonce()}")
        if stream:
            list(r)
    assert ei.value.status_code == want[1], ei.value


# ==========================================================================================
# anthropic messages
# ==========================================================================================

ANT_UPS = others("anthropic")


@pytest.mark.parametrize("up", ANT_UPS)
def test_anthropic_plain(ant, up):
    tag = nonce()
    r = ant.messages.create(model=model(up), max_tokens=256,
                            messages=[{"role": "user", "content": f"Say hello {tag}"}])
    assert r.type == "message" and r.role == "assistant"
    assert r.model == model(up)
    assert [b.type for b in r.content] == ["text"]
    assert r.content[0].text == DEFAULT_TEXT
    assert r.stop_reason == "end_turn"
    assert_anthropic_usage(r.usage, up)
    assert last_body(up, tag)


@pytest.mark.parametrize("up", ANT_UPS)
def test_anthropic_plain_stream(ant, up):
    tag = nonce()
    text = ""
    with ant.messages.stream(model=model(up), max_tokens=256,
                             messages=[{"role": "user", "content": f"Say hello {tag}"}]) as s:
        for ev in s:
            if ev.type == "text":
                text += ev.text
        final = s.get_final_message()
    assert text == DEFAULT_TEXT
    assert final.model == model(up)
    assert final.content[0].text == DEFAULT_TEXT
    assert final.stop_reason == "end_turn"
    assert_anthropic_usage(final.usage, up)


def anthropic_follow_up(ant, up, msgs, content, tu, stream):
    tag2 = nonce()
    result = f"{TOOL_RESULT} 18 degrees and sunny {tag2}"
    msgs = msgs + [{"role": "assistant", "content": content},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tu.id,
                                                 "content": result}]}]
    if stream:
        with ant.messages.stream(model=model(up), max_tokens=256, messages=msgs, tools=ANTHROPIC_TOOLS) as s:
            r2 = s.get_final_message()
    else:
        r2 = ant.messages.create(model=model(up), max_tokens=256, messages=msgs, tools=ANTHROPIC_TOOLS)
    assert [b.text for b in r2.content if b.type == "text"] == [AFTER_TOOL_TEXT]
    assert r2.stop_reason == "end_turn"
    assert_upstream_tool_turn(up, last_body(up, tag2), result)


@pytest.mark.parametrize("up", ANT_UPS)
def test_anthropic_tool_call_and_result(ant, up):
    tag = nonce()
    msgs = [{"role": "user", "content": f"{CASE_TOOL} weather in Paris? {tag}"}]
    r = ant.messages.create(model=model(up), max_tokens=256, messages=msgs, tools=ANTHROPIC_TOOLS)
    assert r.stop_reason == "tool_use"
    uses = [b for b in r.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather" and uses[0].input == TOOL_ARGS
    assert uses[0].id
    assert_upstream_tools(up, last_body(up, tag))
    anthropic_follow_up(ant, up, msgs, [b.model_dump(exclude_none=True) for b in r.content], uses[0], False)


@pytest.mark.parametrize("up", ANT_UPS)
def test_anthropic_tool_call_stream(ant, up):
    tag = nonce()
    msgs = [{"role": "user", "content": f"{CASE_TOOL} weather in Paris? {tag}"}]
    partial = ""
    with ant.messages.stream(model=model(up), max_tokens=256, messages=msgs, tools=ANTHROPIC_TOOLS) as s:
        for ev in s:
            if ev.type == "input_json":
                partial += ev.partial_json
        final = s.get_final_message()
    assert json.loads(partial) == TOOL_ARGS
    assert final.stop_reason == "tool_use"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather" and uses[0].input == TOOL_ARGS
    anthropic_follow_up(ant, up, msgs, [b.model_dump(exclude_none=True) for b in final.content], uses[0], True)


@pytest.mark.parametrize("by_url", [False, True], ids=["base64", "url"])
@pytest.mark.parametrize("up", ANT_UPS)
def test_anthropic_image(ant, up, by_url):
    tag = nonce()
    src = ({"type": "url", "url": PIXEL_URL} if by_url
           else {"type": "base64", "media_type": "image/png", "data": PIXEL_B64})
    r = ant.messages.create(model=model(up), max_tokens=256, messages=[{"role": "user", "content": [
        {"type": "text", "text": f"{CASE_IMAGE} what is this? {tag}"}, {"type": "image", "source": src}]}])
    assert r.content[0].text == IMAGE_TEXT
    assert_upstream_image(up, last_body(up, tag), by_url)


# `display: summarized` asks for the thoughts to be shown (the API default depends on the model).
THINKING_PARAM = {"type": "enabled", "budget_tokens": 1024, "display": "summarized"}


@pytest.mark.parametrize("up", ANT_UPS)
def test_anthropic_reasoning(request, ant, up):
    xfail_if(request, up == "responses", BUG_RESPONSES_ID)
    tag = nonce()
    msgs = [{"role": "user", "content": f"{CASE_THINK} 2+2? {tag}"}]
    r = ant.messages.create(model=model(up), max_tokens=2048, thinking=THINKING_PARAM, messages=msgs)
    assert [b.type for b in r.content] == ["thinking", "text"], r.content
    assert r.content[0].thinking == THINKING
    if up != "chat":  # a chat upstream signs nothing: the block is readable, not replayable
        assert r.content[0].signature, r.content[0]
    assert r.content[1].text == THOUGHT_TEXT
    assert_anthropic_usage(r.usage, up)
    assert_upstream_reasoning_request(up, last_body(up, tag))

    # The thinking block goes back on the next turn: the upstream sees its own signature.
    tag2 = nonce()
    follow = msgs + [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]},
                     {"role": "user", "content": f"And 3+3? {tag2}"}]
    r2 = ant.messages.create(model=model(up), max_tokens=2048, thinking=THINKING_PARAM, messages=follow)
    assert r2.stop_reason == "end_turn"
    assert_upstream_signature(up, last_body(up, tag2))


@pytest.mark.parametrize("up", ANT_UPS)
def test_anthropic_reasoning_stream(ant, up):
    tag = nonce()
    thinking, sigs = "", []
    with ant.messages.stream(model=model(up), max_tokens=2048, thinking=THINKING_PARAM,
                             messages=[{"role": "user", "content": f"{CASE_THINK} 2+2? {tag}"}]) as s:
        for ev in s:
            if ev.type == "thinking":
                thinking += ev.thinking
            elif ev.type == "signature":
                sigs.append(ev.signature)
        final = s.get_final_message()
    assert thinking == THINKING
    assert [b.type for b in final.content] == ["thinking", "text"]
    if up != "chat":
        assert len(sigs) == 1 and sigs[0]
        assert final.content[0].signature == sigs[0]
    assert final.content[1].text == THOUGHT_TEXT


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("status", ERRORS)
@pytest.mark.parametrize("up", ANT_UPS)
def test_anthropic_errors(ant, up, status, stream):
    want = {400: (anthropic.BadRequestError, "invalid_request_error"),
            401: (anthropic.AuthenticationError, "authentication_error"),
            429: (anthropic.RateLimitError, "rate_limit_error"),
            529: (anthropic.OverloadedError, "overloaded_error")}[status]
    with pytest.raises(want[0]) as ei:
        r = ant.messages.create(model=err_model(up, status, stream, "anthropic"), max_tokens=256, stream=stream, messages=[
            {"role": "user", "content": f"MG-CASE-ERR{status} {nonce()}"}])
        if stream:
            list(r)
    assert ei.value.status_code == status, ei.value
    assert ei.value.body["type"] == "error", ei.value.body
    assert ei.value.body["error"]["type"] == want[1], ei.value.body


@pytest.mark.parametrize("up", UPSTREAMS)
def test_anthropic_count_tokens(request, ant, up):
    tag = nonce()
    raw = ant.messages.with_raw_response.count_tokens(
        model=model(up), messages=[{"role": "user", "content": f"Count these tokens please {tag}"}])
    r = raw.parse()
    estimate = raw.headers.get("x-modelgate-token-estimate")
    counted = received(up, tag, generation=False)
    if up == "anthropic":  # same dialect: forwarded
        assert r.input_tokens == 42
        assert estimate is None
        assert [c["path"] for c in counted] == ["/v1/messages/count_tokens"]
        assert counted[0]["body"]["model"] == "claude-upstream-model"
    else:  # estimated locally, and said so
        assert r.input_tokens > 0
        assert estimate == "true"
        assert counted == []


# ==========================================================================================
# google-genai generate_content
# ==========================================================================================

GEM_UPS = others("gemini")


@pytest.mark.parametrize("up", GEM_UPS)
def test_gemini_plain(gem, up):
    tag = nonce()
    r = gem.models.generate_content(model=model(up), contents=f"Say hello {tag}")
    assert r.text == DEFAULT_TEXT
    assert r.model_version == model(up)
    assert r.candidates[0].content.role == "model"
    assert r.candidates[0].finish_reason == gt.FinishReason.STOP
    assert_gemini_usage(r.usage_metadata, up)
    assert last_body(up, tag)


@pytest.mark.parametrize("up", GEM_UPS)
def test_gemini_plain_stream(gem, up):
    tag = nonce()
    chunks = list(gem.models.generate_content_stream(model=model(up), contents=f"Say hello {tag}"))
    assert "".join(c.text or "" for c in chunks) == DEFAULT_TEXT
    finishes = [c.candidates[0].finish_reason for c in chunks if c.candidates and c.candidates[0].finish_reason]
    assert finishes == [gt.FinishReason.STOP]
    assert_gemini_usage(chunks[-1].usage_metadata, up)


def gemini_follow_up(gem, up, first, model_content, fc, stream):
    tag2 = nonce()
    result = f"{TOOL_RESULT} 18 degrees and sunny {tag2}"
    contents = [first, model_content, gt.Content(role="user", parts=[gt.Part(
        function_response=gt.FunctionResponse(id=fc.id, name=fc.name, response={"result": result}))])]
    cfg = gemini_config(tools=GEMINI_TOOLS)
    if stream:
        text = "".join(c.text or "" for c in gem.models.generate_content_stream(
            model=model(up), contents=contents, config=cfg))
    else:
        text = gem.models.generate_content(model=model(up), contents=contents, config=cfg).text
    assert text == AFTER_TOOL_TEXT
    assert_upstream_tool_turn(up, last_body(up, tag2), result)


@pytest.mark.parametrize("up", GEM_UPS)
def test_gemini_tool_call_and_result(gem, up):
    tag = nonce()
    first = gt.Content(role="user", parts=[gt.Part(text=f"{CASE_TOOL} weather in Paris? {tag}")])
    r = gem.models.generate_content(model=model(up), contents=[first], config=gemini_config(tools=GEMINI_TOOLS))
    calls = r.function_calls
    assert calls and len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].args == TOOL_ARGS
    assert r.candidates[0].finish_reason == gt.FinishReason.STOP
    assert_upstream_tools(up, last_body(up, tag))
    gemini_follow_up(gem, up, first, r.candidates[0].content, calls[0], False)


@pytest.mark.parametrize("up", GEM_UPS)
def test_gemini_tool_call_stream(gem, up):
    tag = nonce()
    first = gt.Content(role="user", parts=[gt.Part(text=f"{CASE_TOOL} weather in Paris? {tag}")])
    chunks = list(gem.models.generate_content_stream(
        model=model(up), contents=[first], config=gemini_config(tools=GEMINI_TOOLS)))
    calls = [fc for c in chunks for fc in (c.function_calls or [])]
    assert len(calls) == 1, chunks
    assert calls[0].name == "get_weather" and calls[0].args == TOOL_ARGS
    parts = [p for c in chunks if c.candidates and c.candidates[0].content
             for p in c.candidates[0].content.parts or [] if p.function_call]
    gemini_follow_up(gem, up, first, gt.Content(role="model", parts=parts), calls[0], True)


@pytest.mark.parametrize("by_url", [False, True], ids=["base64", "url"])
@pytest.mark.parametrize("up", GEM_UPS)
def test_gemini_image(gem, up, by_url):
    tag = nonce()
    img = (gt.Part.from_uri(file_uri=PIXEL_URL, mime_type="image/png") if by_url
           else gt.Part.from_bytes(data=PIXEL, mime_type="image/png"))
    r = gem.models.generate_content(model=model(up), contents=[gt.Content(role="user", parts=[
        gt.Part(text=f"{CASE_IMAGE} what is this? {tag}"), img])])
    assert r.text == IMAGE_TEXT
    assert_upstream_image(up, last_body(up, tag), by_url)


THINK_CONFIG = gt.ThinkingConfig(include_thoughts=True, thinking_budget=1024)


@pytest.mark.parametrize("up", GEM_UPS)
def test_gemini_reasoning(request, gem, up):
    xfail_if(request, up in ("anthropic", "responses"), BUG_GEMINI_FOREIGN_SIG)
    tag = nonce()
    first = gt.Content(role="user", parts=[gt.Part(text=f"{CASE_THINK} 2+2? {tag}")])
    r = gem.models.generate_content(model=model(up), contents=[first],
                                    config=gemini_config(thinking_config=THINK_CONFIG))
    parts = r.candidates[0].content.parts
    thoughts = [p for p in parts if p.thought]
    assert [p.text for p in thoughts] == [THINKING], parts
    assert r.text == THOUGHT_TEXT
    assert_gemini_usage(r.usage_metadata, up)
    assert_upstream_reasoning_request(up, last_body(up, tag))
    if up != "chat":
        assert any(p.thought_signature for p in parts), parts

    tag2 = nonce()
    follow = [first, r.candidates[0].content,
              gt.Content(role="user", parts=[gt.Part(text=f"And 3+3? {tag2}")])]
    r2 = gem.models.generate_content(model=model(up), contents=follow,
                                     config=gemini_config(thinking_config=THINK_CONFIG))
    assert r2.candidates[0].finish_reason == gt.FinishReason.STOP
    assert_upstream_signature(up, last_body(up, tag2))


@pytest.mark.parametrize("up", GEM_UPS)
def test_gemini_reasoning_stream(gem, up):
    tag = nonce()
    chunks = list(gem.models.generate_content_stream(
        model=model(up), contents=f"{CASE_THINK} 2+2? {tag}",
        config=gemini_config(thinking_config=THINK_CONFIG)))
    parts = [p for c in chunks if c.candidates and c.candidates[0].content
             for p in c.candidates[0].content.parts or []]
    assert "".join(p.text or "" for p in parts if p.thought) == THINKING
    assert "".join(p.text or "" for p in parts if not p.thought) == THOUGHT_TEXT


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("status", ERRORS)
@pytest.mark.parametrize("up", GEM_UPS)
def test_gemini_errors(request, gem, up, status, stream):
    want = {400: (genai_errors.ClientError, 400, "INVALID_ARGUMENT"),
            401: (genai_errors.ClientError, 401, "UNAUTHENTICATED"),
            429: (genai_errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
            529: (genai_errors.ServerError, 503, "UNAVAILABLE")}[status]
    with pytest.raises(want[0]) as ei:
        contents = f"MG-CASE-ERR{status} {nonce()}"
        if stream:
            list(gem.models.generate_content_stream(model=err_model(up, status, stream, "gemini"), contents=contents))
        else:
            gem.models.generate_content(model=err_model(up, status, stream, "gemini"), contents=contents)
    assert ei.value.code == want[1], ei.value
    assert ei.value.status == want[2], ei.value


@pytest.mark.parametrize("up", UPSTREAMS)
def test_gemini_count_tokens(request, gem, up):
    tag = nonce()
    r = gem.models.count_tokens(model=model(up), contents=f"Count these tokens please {tag}")
    headers = {k.lower(): v for k, v in ((r.sdk_http_response and r.sdk_http_response.headers) or {}).items()}
    counted = received(up, tag, generation=False)
    if up == "gemini":  # same dialect: forwarded
        assert r.total_tokens == 42
        assert "x-modelgate-token-estimate" not in headers
        assert len(counted) == 1 and counted[0]["path"].endswith("/models/gemini-upstream-model:countTokens")
    else:
        assert r.total_tokens > 0
        assert headers.get("x-modelgate-token-estimate") == "true", headers
        assert counted == []


# ==========================================================================================
# the request log (keep last: it reads the records of the cases above)
# ==========================================================================================


def log_items(model_id):
    items, skip = [], 0
    with httpx.Client(base_url=GATEWAY, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10) as c:
        while True:
            r = c.get("/admin/logs", params={"model": model_id, "skip": skip, "limit": 200})
            r.raise_for_status()
            page = r.json()
            items += page["items"]
            skip += len(page["items"])
            if not page["items"] or skip >= page["total"]:
                return items


def test_request_log_dialects():
    """Every (client, upstream) pair left records naming both dialects, with the usage."""
    deadline = time.time() + 10
    while True:
        missing = []
        records = {up: log_items(model(up)) for up in UPSTREAMS}
        if any("upstream_dialect" not in it for its in records.values() for it in its):
            pytest.fail("GET /admin/logs does not show upstream_dialect (LogOut in "
                        "crates/server/src/admin/logs.rs)")
        for client in CLIENTS:
            for up in others(client):
                ok = [it for it in records[up] if it["dialect"] == DIALECT[client] and it["status"] == 200
                      and it["upstream_dialect"] == DIALECT[up] and "count_tokens" not in it["endpoint"]]
                if not ok:
                    missing.append((client, up))
        if not missing or time.time() > deadline:
            break
        time.sleep(0.2)
    assert not missing, f"no request-log record for (client, upstream): {missing}"
    for up in UPSTREAMS:
        for it in records[up]:
            assert it["requested_model"] == model(up), it
            if (it["status"] == 200 and it["upstream_dialect"] == DIALECT[up] and it["prompt_tokens"] > 0
                    and "count_tokens" not in it["endpoint"]):
                e = USAGE[up]
                assert it["prompt_tokens"] == e["input"], it
                assert it["completion_tokens"] == e["output"], it
                assert it["cached_tokens"] == e["cache_read"], it
                assert it["reasoning_tokens"] == e["reasoning"], it
            if it["status"] >= 400 and it["upstream_dialect"] is not None:
                assert it["upstream_dialect"] == DIALECT[up], it
