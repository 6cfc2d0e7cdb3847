//! Stream transcoding through the canonical model: an upstream SSE byte stream of one dialect
//! is cut at arbitrary byte boundaries, framed with `SseSplitter`, decoded with
//! `codec::stream_decoder(A)` and re-encoded with `codec::stream_encoder(B)`; the client bytes
//! must parse as B's events with the right block / tool-call indices and the same content.
//! Covered: OpenAI Chat upstream → Anthropic client and Anthropic upstream → Chat client (text,
//! reasoning, two parallel tool calls, also interleaved), each dialect to itself, and arbitrary
//! sequences of upstream events into every client dialect (no panics, well-formed framing).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use modelgate_formats::Dialect;
use modelgate_formats::canonical::ResponseOptions;
use modelgate_formats::codec;
use modelgate_formats::sse::{SseEvent, SseSplitter};
use proptest::prelude::*;
use serde_json::{Value, json};

const CHAT_UPSTREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Need weather \"}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"and time.\"}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Checking \\u00e9 \"}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"both.\"}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{\\\"tz\\\":\"}}]}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"\\\"CET\\\"}\"}}]}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":10,\"total_tokens\":30,\"prompt_tokens_details\":{\"cached_tokens\":5},\"completion_tokens_details\":{\"reasoning_tokens\":4}}}\n\n",
    "data: [DONE]\n\n",
);

/// Two tool calls whose argument fragments arrive interleaved (allowed by the chat wire).
const CHAT_UPSTREAM_INTERLEAVED: &str = concat!(
    "data: {\"id\":\"c2\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n",
    "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\"}},{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{\\\"tz\\\":\"}}]}}]}\n\n",
    "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"\\\"CET\\\"}\"}}]}}]}\n\n",
    "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}}]}\n\n",
    "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\n",
    "data: [DONE]\n\n",
);

const ANTHROPIC_UPSTREAM: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Need weather \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"and time.\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBsig\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking \\u00e9 \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"both.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"get_time\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"tz\\\":\\\"CET\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

fn client_opts() -> ResponseOptions {
    ResponseOptions {
        model: "client-model".into(),
        id: None,
        created: 1_700_000_000,
        sse: true,
        include_usage: true,
    }
}

/// Feeds `bytes` cut at `cuts` through SSE framing, decoder A and encoder B.
fn transcode(from: Dialect, to: Dialect, bytes: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut splitter = SseSplitter::new();
    let mut dec = codec::stream_decoder(from);
    let mut enc = codec::stream_encoder(to, &client_opts());
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    let mut prev = 0;
    for p in points {
        splitter.push(&bytes[prev..p]).unwrap();
        prev = p;
        while let Some(block) = splitter.next_event() {
            let ev = SseEvent::parse(&block);
            if let Some(data) = ev.data {
                dec.push(ev.event, &data, &mut events).unwrap();
                for e in events.drain(..) {
                    enc.push(&e, &mut out);
                }
            }
        }
    }
    dec.finish(&mut events);
    for e in events.drain(..) {
        enc.push(&e, &mut out);
    }
    enc.finish(&mut out);
    out
}

/// Client bytes → (event name, data) pairs, framed by `SseSplitter` with the same cuts.
fn client_events(bytes: &[u8], cuts: &[usize]) -> Vec<(Option<String>, String)> {
    let mut splitter = SseSplitter::new();
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    let mut prev = 0;
    for p in points {
        splitter.push(&bytes[prev..p]).unwrap();
        prev = p;
        while let Some(block) = splitter.next_event() {
            let ev = SseEvent::parse(&block);
            out.push((
                ev.event.map(str::to_owned),
                ev.data.expect("every client event has data").into_owned(),
            ));
        }
    }
    out
}

#[derive(Debug, Default, PartialEq)]
struct Summary {
    reasoning: String,
    signature: String,
    text: String,
    /// (client index, id, name, arguments parsed)
    tools: Vec<(u64, String, String, Value)>,
    stop: String,
    usage: Value,
}

/// Checks an Anthropic client stream and sums it up.
fn check_anthropic(bytes: &[u8], cuts: &[usize]) -> Summary {
    let evs = client_events(bytes, cuts);
    let mut s = Summary::default();
    let mut open: Option<(u64, String)> = None;
    let mut next_index = 0u64;
    let mut partial = String::new();
    let mut saw_delta = false;
    assert!(!evs.is_empty());
    for (n, (name, data)) in evs.iter().enumerate() {
        let name = name.as_deref().expect("named event");
        let v: Value = serde_json::from_str(data).expect("json data");
        assert_eq!(v["type"], name);
        match name {
            "message_start" => {
                assert_eq!(n, 0, "message_start first");
                assert_eq!(v["message"]["role"], "assistant");
                assert_eq!(v["message"]["model"], "client-model");
                assert!(v["message"]["usage"]["input_tokens"].is_u64());
                assert!(v["message"]["usage"]["output_tokens"].as_u64().unwrap() <= 1);
            }
            "content_block_start" => {
                assert!(open.is_none(), "blocks do not interleave");
                assert_eq!(v["index"], next_index, "consecutive block indices");
                next_index += 1;
                let cb = &v["content_block"];
                let kind = cb["type"].as_str().unwrap().to_string();
                if kind == "tool_use" {
                    assert_eq!(cb["input"], json!({}));
                    s.tools.push((
                        v["index"].as_u64().unwrap(),
                        cb["id"].as_str().unwrap().into(),
                        cb["name"].as_str().unwrap().into(),
                        Value::Null,
                    ));
                    partial.clear();
                }
                open = Some((v["index"].as_u64().unwrap(), kind));
            }
            "content_block_delta" => {
                let (index, kind) = open.as_ref().expect("delta inside a block");
                assert_eq!(v["index"], *index);
                let d = &v["delta"];
                match (kind.as_str(), d["type"].as_str().unwrap()) {
                    ("text", "text_delta") => s.text.push_str(d["text"].as_str().unwrap()),
                    ("thinking", "thinking_delta") => {
                        s.reasoning.push_str(d["thinking"].as_str().unwrap())
                    }
                    ("thinking", "signature_delta") => {
                        s.signature.push_str(d["signature"].as_str().unwrap())
                    }
                    ("tool_use", "input_json_delta") => {
                        partial.push_str(d["partial_json"].as_str().unwrap())
                    }
                    other => panic!("delta {other:?} in the wrong block"),
                }
            }
            "content_block_stop" => {
                let (index, kind) = open.take().expect("stop of an open block");
                assert_eq!(v["index"], index);
                if kind == "tool_use" {
                    let last = s.tools.last_mut().unwrap();
                    last.3 = serde_json::from_str(&partial).expect("tool input is JSON");
                }
            }
            "message_delta" => {
                assert!(open.is_none(), "blocks closed before message_delta");
                saw_delta = true;
                s.stop = v["delta"]["stop_reason"].as_str().unwrap().into();
                assert!(v["delta"].get("stop_sequence").is_some());
                s.usage = v["usage"].clone();
            }
            "message_stop" => {
                assert!(saw_delta);
                assert_eq!(n, evs.len() - 1, "message_stop last");
            }
            other => panic!("unexpected event {other}"),
        }
    }
    s
}

/// Checks a Chat client stream and sums it up.
fn check_chat(bytes: &[u8], cuts: &[usize]) -> Summary {
    let evs = client_events(bytes, cuts);
    let mut s = Summary::default();
    let (last_name, last) = evs.last().unwrap();
    assert!(last_name.is_none());
    assert_eq!(last, "[DONE]");
    let mut finished = false;
    let mut args: Vec<String> = Vec::new();
    for (n, (name, data)) in evs[..evs.len() - 1].iter().enumerate() {
        assert!(name.is_none(), "chat events carry no event name");
        let v: Value = serde_json::from_str(data).expect("chunk json");
        assert_eq!(v["object"], "chat.completion.chunk");
        assert_eq!(v["model"], "client-model");
        let choices = v["choices"].as_array().unwrap();
        if choices.is_empty() {
            assert!(finished, "usage chunk after the finish chunk");
            s.usage = v["usage"].clone();
            continue;
        }
        assert!(!finished, "no choice chunk after finish_reason");
        let c = &choices[0];
        let d = &c["delta"];
        if n == 0 {
            assert_eq!(d["role"], "assistant");
        }
        if let Some(t) = d["content"].as_str() {
            s.text.push_str(t);
        }
        if let Some(t) = d["reasoning_content"].as_str() {
            s.reasoning.push_str(t);
        }
        for tc in d["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().unwrap();
            if i as usize == s.tools.len() {
                assert_eq!(tc["type"], "function");
                s.tools.push((
                    i,
                    tc["id"].as_str().expect("id on first delta").into(),
                    tc["function"]["name"]
                        .as_str()
                        .expect("name on first delta")
                        .into(),
                    Value::Null,
                ));
                args.push(String::new());
            } else {
                assert!((i as usize) < s.tools.len(), "tool indices in order");
                assert!(tc.get("id").is_none() && tc["function"].get("name").is_none());
            }
            args[i as usize].push_str(tc["function"]["arguments"].as_str().unwrap());
        }
        if let Some(f) = c["finish_reason"].as_str() {
            finished = true;
            s.stop = f.into();
        }
    }
    assert!(finished);
    for (t, a) in s.tools.iter_mut().zip(args) {
        t.3 = serde_json::from_str(&a).expect("arguments are JSON");
    }
    s
}

fn expected_tools(index_base: u64, ids: [&str; 2]) -> Vec<(u64, String, String, Value)> {
    vec![
        (
            index_base,
            ids[0].into(),
            "get_weather".into(),
            json!({"city": "Paris"}),
        ),
        (
            index_base + 1,
            ids[1].into(),
            "get_time".into(),
            json!({"tz": "CET"}),
        ),
    ]
}

#[test]
fn chat_upstream_to_anthropic_client() {
    let out = transcode(
        Dialect::OpenaiChat,
        Dialect::Anthropic,
        CHAT_UPSTREAM.as_bytes(),
        &[],
    );
    let s = check_anthropic(&out, &[]);
    assert_eq!(
        s,
        Summary {
            reasoning: "Need weather and time.".into(),
            signature: String::new(),
            text: "Checking é both.".into(),
            // thinking block 0, text block 1, tools at 2 and 3
            tools: expected_tools(2, ["call_a", "call_b"]),
            stop: "tool_use".into(),
            usage: json!({"input_tokens": 15, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 5, "output_tokens": 10}),
        }
    );
}

#[test]
fn interleaved_chat_tool_calls_become_sequential_anthropic_blocks() {
    let out = transcode(
        Dialect::OpenaiChat,
        Dialect::Anthropic,
        CHAT_UPSTREAM_INTERLEAVED.as_bytes(),
        &[],
    );
    let s = check_anthropic(&out, &[]);
    assert_eq!(s.tools, expected_tools(0, ["call_a", "call_b"]));
    assert_eq!(s.usage["input_tokens"], 7);
}

#[test]
fn anthropic_upstream_to_chat_client() {
    let out = transcode(
        Dialect::Anthropic,
        Dialect::OpenaiChat,
        ANTHROPIC_UPSTREAM.as_bytes(),
        &[],
    );
    let s = check_chat(&out, &[]);
    assert_eq!(
        s,
        Summary {
            reasoning: "Need weather and time.".into(),
            signature: String::new(),
            text: "Checking é both.".into(),
            tools: expected_tools(0, ["toolu_a", "toolu_b"]),
            stop: "tool_calls".into(),
            usage: json!({"prompt_tokens": 20, "completion_tokens": 42, "total_tokens": 62,
                          "prompt_tokens_details": {"cached_tokens": 5},
                          "completion_tokens_details": {"reasoning_tokens": 0}}),
        }
    );
}

#[test]
fn same_dialect_through_the_canonical_model() {
    let s = check_anthropic(
        &transcode(
            Dialect::Anthropic,
            Dialect::Anthropic,
            ANTHROPIC_UPSTREAM.as_bytes(),
            &[],
        ),
        &[],
    );
    assert_eq!(s.signature, "EqQBsig");
    assert_eq!(s.tools, expected_tools(2, ["toolu_a", "toolu_b"]));
    assert_eq!(
        s.usage,
        json!({"input_tokens": 12, "cache_creation_input_tokens": 3,
               "cache_read_input_tokens": 5, "output_tokens": 42})
    );
    let s = check_chat(
        &transcode(
            Dialect::OpenaiChat,
            Dialect::OpenaiChat,
            CHAT_UPSTREAM.as_bytes(),
            &[],
        ),
        &[],
    );
    assert_eq!(s.tools, expected_tools(0, ["call_a", "call_b"]));
    assert_eq!(s.usage["prompt_tokens_details"]["cached_tokens"], 5);
}

#[test]
fn upstream_error_mid_stream_reaches_the_client_in_its_shape() {
    let cut = ANTHROPIC_UPSTREAM
        .find("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2")
        .unwrap();
    let bytes = format!(
        "{}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n",
        &ANTHROPIC_UPSTREAM[..cut]
    );
    let out = transcode(
        Dialect::Anthropic,
        Dialect::OpenaiChat,
        bytes.as_bytes(),
        &[],
    );
    let evs = client_events(&out, &[]);
    let (_, err) = &evs[evs.len() - 2];
    let v: Value = serde_json::from_str(err).unwrap();
    assert_eq!(v["error"]["message"], "Overloaded");
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(evs.last().unwrap().1, "[DONE]");
    // Chat upstream error → Anthropic `error` event, no message_stop.
    let out = transcode(
        Dialect::OpenaiChat,
        Dialect::Anthropic,
        b"data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"error\":{\"message\":\"rate limited\",\"type\":\"rate_limit_error\"}}\n\n",
        &[],
    );
    let evs = client_events(&out, &[]);
    let (name, data) = evs.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"));
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(
        evs.iter()
            .all(|(n, _)| n.as_deref() != Some("message_stop"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn chat_to_anthropic_at_any_cut(cuts in prop::collection::vec(any::<usize>(), 0..16)) {
        let whole = transcode(Dialect::OpenaiChat, Dialect::Anthropic, CHAT_UPSTREAM.as_bytes(), &[]);
        let cut = transcode(Dialect::OpenaiChat, Dialect::Anthropic, CHAT_UPSTREAM.as_bytes(), &cuts);
        prop_assert_eq!(&cut, &whole);
        let s = check_anthropic(&cut, &cuts);
        prop_assert_eq!(s.tools, expected_tools(2, ["call_a", "call_b"]));
        prop_assert_eq!(s.text, "Checking é both.");
    }

    #[test]
    fn interleaved_chat_to_anthropic_at_any_cut(cuts in prop::collection::vec(any::<usize>(), 0..16)) {
        let out = transcode(Dialect::OpenaiChat, Dialect::Anthropic, CHAT_UPSTREAM_INTERLEAVED.as_bytes(), &cuts);
        let s = check_anthropic(&out, &cuts);
        prop_assert_eq!(s.tools, expected_tools(0, ["call_a", "call_b"]));
    }

    #[test]
    fn anthropic_to_chat_at_any_cut(cuts in prop::collection::vec(any::<usize>(), 0..16)) {
        let whole = transcode(Dialect::Anthropic, Dialect::OpenaiChat, ANTHROPIC_UPSTREAM.as_bytes(), &[]);
        let cut = transcode(Dialect::Anthropic, Dialect::OpenaiChat, ANTHROPIC_UPSTREAM.as_bytes(), &cuts);
        prop_assert_eq!(&cut, &whole);
        let s = check_chat(&cut, &cuts);
        prop_assert_eq!(s.tools, expected_tools(0, ["toolu_a", "toolu_b"]));
        prop_assert_eq!(s.reasoning, "Need weather and time.");
    }
}

/// An Anthropic upstream event from a template, with a block index.
fn anthropic_event(template: u8, index: u32) -> String {
    let i = index;
    match template % 12 {
        0 => r#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":3,"output_tokens":1}}}"#.to_string(),
        1 => format!(r#"{{"type":"content_block_start","index":{i},"content_block":{{"type":"text","text":""}}}}"#),
        2 => format!(r#"{{"type":"content_block_start","index":{i},"content_block":{{"type":"thinking","thinking":"","signature":""}}}}"#),
        3 => format!(r#"{{"type":"content_block_start","index":{i},"content_block":{{"type":"tool_use","id":"t{i}","name":"f","input":{{}}}}}}"#),
        4 => format!(r#"{{"type":"content_block_delta","index":{i},"delta":{{"type":"text_delta","text":"x"}}}}"#),
        5 => format!(r#"{{"type":"content_block_delta","index":{i},"delta":{{"type":"thinking_delta","thinking":"y"}}}}"#),
        6 => format!(r#"{{"type":"content_block_delta","index":{i},"delta":{{"type":"signature_delta","signature":"s"}}}}"#),
        7 => format!(r#"{{"type":"content_block_delta","index":{i},"delta":{{"type":"input_json_delta","partial_json":"{{}}"}}}}"#),
        8 => format!(r#"{{"type":"content_block_stop","index":{i}}}"#),
        9 => r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}"#.to_string(),
        10 => format!(r#"{{"type":"content_block_start","index":{i},"content_block":{{"type":"redacted_thinking","data":"d"}}}}"#),
        _ => r#"{"type":"message_stop"}"#.to_string(),
    }
}

/// A chat upstream chunk from a template, with a tool-call index.
fn chat_event(template: u8, index: u32) -> String {
    let i = index;
    match template % 8 {
        0 => r#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant"}}]}"#
            .to_string(),
        1 => r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#.to_string(),
        2 => r#"{"choices":[{"index":0,"delta":{"reasoning_content":"y"}}]}"#.to_string(),
        3 => format!(
            r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{i},"id":"call_{i}","type":"function","function":{{"name":"f","arguments":""}}}}]}}}}]}}"#
        ),
        4 => format!(
            r#"{{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":{i},"function":{{"arguments":"{{}}"}}}}]}}}}]}}"#
        ),
        5 => r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#.to_string(),
        6 => r#"{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3}}"#.to_string(),
        _ => "[DONE]".to_string(),
    }
}

/// Every client event parses: SSE blocks whose data is JSON (or `[DONE]`), and an Anthropic
/// client never sees a block delta or stop outside the block that is open.
fn check_framing(to: Dialect, bytes: &[u8]) {
    let mut open: Option<u64> = None;
    let mut next = 0u64;
    for (name, data) in client_events(bytes, &[]) {
        if data == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(&data).expect("client data is JSON");
        if to != Dialect::Anthropic {
            continue;
        }
        match name.as_deref() {
            Some("content_block_start") => {
                assert!(open.is_none());
                assert_eq!(v["index"], next);
                open = Some(next);
                next += 1;
            }
            Some("content_block_delta") => assert_eq!(Some(v["index"].as_u64().unwrap()), open),
            Some("content_block_stop") => {
                assert_eq!(Some(v["index"].as_u64().unwrap()), open);
                open = None;
            }
            Some("message_delta") | Some("message_stop") => assert!(open.is_none()),
            _ => {}
        }
    }
}

fn run_sequence(from: Dialect, events: &[String]) {
    for to in Dialect::ALL {
        let mut dec = codec::stream_decoder(from);
        let mut enc = codec::stream_encoder(to, &client_opts());
        let mut evs = Vec::new();
        let mut out = Vec::new();
        for data in events {
            let _ = dec.push(None, data, &mut evs);
            for e in evs.drain(..) {
                enc.push(&e, &mut out);
            }
        }
        dec.finish(&mut evs);
        for e in evs.drain(..) {
            enc.push(&e, &mut out);
        }
        enc.finish(&mut out);
        check_framing(to, &out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_anthropic_event_sequences_transcode_cleanly(
        seq in prop::collection::vec((any::<u8>(), 0u32..4), 0..40)
    ) {
        let events: Vec<String> = seq.iter().map(|(t, i)| anthropic_event(*t, *i)).collect();
        run_sequence(Dialect::Anthropic, &events);
    }

    #[test]
    fn arbitrary_chat_chunk_sequences_transcode_cleanly(
        seq in prop::collection::vec((any::<u8>(), 0u32..4), 0..40)
    ) {
        let events: Vec<String> = seq.iter().map(|(t, i)| chat_event(*t, *i)).collect();
        run_sequence(Dialect::OpenaiChat, &events);
    }
}
