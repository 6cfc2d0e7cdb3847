"""Conformance of modelgate's data plane with the official Python `openai` SDK.

Run by `crates/server/tests/sdk_openai.rs`, which starts a mock upstream and a real gateway
and passes the connection details in the environment:

    MG_BASE_URL     the gateway's data plane, e.g. http://127.0.0.1:PORT/v1
    MG_API_KEY      a virtual key (mg-…)
    MG_CHAT_MODEL   a catalogue model served by the mock's chat completions
    MG_EMBED_MODEL  a catalogue model served by the mock's embeddings

The Rust test counts the chat calls this file makes (see CHAT_CALLS there): keep it in step.
"""

import os

import openai
import pytest

try:  # the HTTP client the installed SDK is built on (httpx2 in recent releases)
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs use httpx
    import httpx

BASE_URL = os.environ["MG_BASE_URL"]
API_KEY = os.environ["MG_API_KEY"]
CHAT_MODEL = os.environ.get("MG_CHAT_MODEL", "gpt-test")
EMBED_MODEL = os.environ.get("MG_EMBED_MODEL", "embed-test")

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def client():
    c = openai.OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=30)
    yield c
    c.close()


# --- chat completions -------------------------------------------------------------------


def test_chat_non_stream(client):
    r = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert r.object == "chat.completion"
    assert len(r.choices) == 1
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "Hello from mock"
    assert r.choices[0].finish_reason == "stop"


def test_chat_non_stream_usage(client):
    r = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    u = r.usage
    assert u is not None
    assert u.prompt_tokens == 12
    assert u.completion_tokens == 7
    assert u.total_tokens == 19
    assert u.prompt_tokens_details is not None
    assert u.prompt_tokens_details.cached_tokens == 2
    assert u.completion_tokens_details is not None
    assert u.completion_tokens_details.reasoning_tokens == 3


def test_chat_stream_without_usage(client):
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert chunks, "the stream yielded no chunks"
    for c in chunks:
        assert c.object == "chat.completion.chunk"
        # The gateway asks the upstream for usage on its own; the extra usage-only chunk
        # must not reach a client that did not ask for it.
        assert c.choices, f"unexpected chunk with empty choices: {c.model_dump_json()}"
        assert c.usage is None, f"unexpected usage on a chunk: {c.model_dump_json()}"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Hello from the mock"


def test_chat_stream_with_include_usage(client):
    stream = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the mock"
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1, [c.model_dump_json() for c in chunks]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == 12
    assert last.usage.completion_tokens == 7
    assert last.usage.total_tokens == 19


def test_chat_stream_context_manager(client):
    with client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from the mock"


# --- embeddings and models --------------------------------------------------------------


def test_embeddings(client):
    r = client.embeddings.create(model=EMBED_MODEL, input="hello")
    assert r.object == "list"
    assert len(r.data) == 1
    emb = r.data[0].embedding
    assert len(emb) == 3
    assert all(isinstance(x, float) for x in emb)
    assert emb == pytest.approx([0.1, 0.2, 0.3])
    assert r.usage.prompt_tokens == 5


def test_models_list(client):
    ids = [m.id for m in client.models.list()]
    assert CHAT_MODEL in ids, ids
    assert EMBED_MODEL in ids, ids


# --- errors -----------------------------------------------------------------------------


def test_bad_key_is_authentication_error():
    bad = openai.OpenAI(base_url=BASE_URL, api_key="mg-not-a-real-key", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError) as ei:
        bad.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert ei.value.status_code == 401
    bad.close()


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert ei.value.status_code == 404
    assert ei.value.code == "model_not_found"


def test_missing_model_is_bad_request(client):
    # The SDK requires `model`; send the request without it through the raw `post` helper.
    with pytest.raises(openai.BadRequestError) as ei:
        client.post(
            "/chat/completions",
            body={"messages": MESSAGES},
            cast_to=httpx.Response,
        )
    assert ei.value.status_code == 400
    assert ei.value.param == "model"


# --- raw responses and headers ----------------------------------------------------------


def test_raw_response_headers(client):
    raw = client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MESSAGES)
    assert raw.status_code == 200
    assert raw.headers.get("x-request-id")
    assert raw.headers.get("x-modelgate-provider") == "mock"
    overhead = float(raw.headers["x-modelgate-overhead-ms"])
    assert overhead >= 0.0
    r = raw.parse()
    assert r.choices[0].message.content == "Hello from mock"


def test_x_api_key_header():
    # The SDK always sends `Authorization`; check the `X-API-Key` variant with the SDK's own
    # HTTP library directly.
    r = httpx.post(
        f"{BASE_URL}/chat/completions",
        headers={"X-API-Key": API_KEY},
        json={"model": CHAT_MODEL, "messages": MESSAGES},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "Hello from mock"
    # A wrong X-API-Key is refused too.
    r = httpx.post(
        f"{BASE_URL}/chat/completions",
        headers={"X-API-Key": "mg-not-a-real-key"},
        json={"model": CHAT_MODEL, "messages": MESSAGES},
        timeout=30,
    )
    assert r.status_code == 401, r.text
