//! Golden and behaviour tests of the OpenAI Chat codec: the captured aider request decoded to
//! canonical and encoded to every dialect, hand-written multi-turn/tool/image/reasoning cases,
//! stop-reason and usage mappings, responses, stream decode/encode, errors, and property tests
//! (no panics, chunk boundaries, round trips).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use modelgate_formats::Dialect;
use modelgate_formats::canonical::{
    ConvertError, EncodeOptions, ErrorInfo, ErrorKind, ImageSource, Message, Part, Reasoning,
    Request, Response, ResponseOptions, Role, StopReason, StreamDecoder, StreamEncoder,
    StreamEvent, Tool, ToolChoice, Usage,
};
use modelgate_formats::codec;
use modelgate_formats::openai_chat as chat;
use modelgate_formats::sse::{SseEvent, SseSplitter};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixture_body(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/fixtures/clients/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let line = std::fs::read_to_string(path).expect("fixture");
    let v: Value = serde_json::from_str(line.lines().next().expect("a line")).expect("json");
    serde_json::to_vec(&v["body"]).expect("body")
}

fn opts() -> EncodeOptions {
    EncodeOptions {
        model: "target-model".into(),
        stream: true,
        default_max_tokens: None,
        include_usage: true,
    }
}

fn enc(d: Dialect, req: &Request) -> (Value, Vec<String>) {
    let mut dropped = Vec::new();
    match codec::encode_request(d, req, &opts(), &mut dropped) {
        Ok(b) => (serde_json::from_slice(&b).expect("encoded json"), dropped),
        Err(e) => (json!({"error": e.to_string()}), dropped),
    }
}

fn decode(body: Value) -> Request {
    chat::decode_request(&serde_json::to_vec(&body).unwrap()).expect("decode")
}

#[test]
fn aider_fixture_decodes_and_converts() {
    let req = chat::decode_request(&fixture_body("aider-0.86.2.jsonl")).expect("decode");
    assert!(req.stream);
    assert_eq!(req.temperature, Some(0.0));
    assert!(
        !req.system.is_empty(),
        "leading system message → Request::system"
    );
    assert!(req.messages.iter().all(|m| m.role != Role::System));
    assert!(req.dropped.is_empty(), "{:?}", req.dropped);
    insta::assert_json_snapshot!("aider_canonical", req);
    for d in Dialect::ALL {
        let (body, dropped) = enc(d, &req);
        insta::assert_json_snapshot!(
            format!("aider_to_{d}"),
            json!({"body": body, "dropped": dropped})
        );
    }
}

fn multi_turn_body() -> Value {
    json!({
        "model": "gpt-x",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these images, and the weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
            ]},
            {"role": "assistant", "content": null, "reasoning_content": "Need two tools.",
             "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}
             ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "12:00"}]},
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "max_completion_tokens": 500,
        "stop": "END",
        "seed": 7,
        "reasoning_effort": "medium",
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
        "user": "u-1",
        "logprobs": true,
        "top_logprobs": 2,
        "stream": true,
        "stream_options": {"include_usage": true}
    })
}

#[test]
fn multi_turn_tools_images_reasoning() {
    let req = decode(multi_turn_body());
    assert_eq!(req.system.len(), 2);
    assert_eq!(req.stop, vec!["END".to_string()]);
    assert_eq!(req.max_tokens, Some(500));
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(
        req.dropped,
        vec![
            "openai_chat.input_audio",
            "openai_chat.logprobs",
            "openai_chat.top_logprobs"
        ]
    );
    // user, assistant, user(tool results), system, user
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![
            Role::User,
            Role::Assistant,
            Role::User,
            Role::System,
            Role::User
        ]
    );
    match &req.messages[0].content[1] {
        Part::Image { source, detail } => {
            assert_eq!(
                source,
                &ImageSource::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into()
                }
            );
            assert_eq!(detail.as_deref(), Some("low"));
        }
        p => panic!("{p:?}"),
    }
    assert!(
        matches!(&req.messages[0].content[2], Part::Image { source: ImageSource::Url { url }, .. } if url == "https://example.com/cat.jpg")
    );
    match &req.messages[2].content[..] {
        [
            Part::ToolResult {
                call_id: a,
                name: na,
                ..
            },
            Part::ToolResult {
                call_id: b,
                name: nb,
                ..
            },
        ] => {
            assert_eq!((a.as_str(), na.as_deref()), ("call_1", Some("get_weather")));
            assert_eq!((b.as_str(), nb.as_deref()), ("call_2", Some("get_time")));
        }
        c => panic!("{c:?}"),
    }
    insta::assert_json_snapshot!("multi_turn_canonical", req);
    for d in Dialect::ALL {
        let (body, dropped) = enc(d, &req);
        insta::assert_json_snapshot!(
            format!("multi_turn_to_{d}"),
            json!({"body": body, "dropped": dropped})
        );
    }
    // Back to chat: tool results are `tool` messages, reasoning dropped, the schema kept.
    let (body, dropped) = enc(Dialect::OpenaiChat, &req);
    assert!(dropped.contains(&"openai_chat.reasoning".to_string()));
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs[3]["role"], "tool");
    assert_eq!(msgs[3]["tool_call_id"], "call_1");
    assert_eq!(msgs[4]["tool_call_id"], "call_2");
    assert_eq!(msgs[5]["role"], "system");
    assert_eq!(body["max_completion_tokens"], 500);
    assert_eq!(body["reasoning_effort"], "medium");
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(
        msgs[1]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
    // To Anthropic: forced tool use is dropped because thinking is on (effort → budget 8192).
    let (body, dropped) = enc(Dialect::Anthropic, &req);
    assert_eq!(body["thinking"]["budget_tokens"], 8192);
    assert!(body["max_tokens"].as_u64().unwrap() > 8192);
    assert!(dropped.contains(&"anthropic.tool_choice".to_string()));
    assert!(dropped.contains(&"anthropic.reasoning_without_signature".to_string()));
}

#[test]
fn n_above_one_is_unsupported_and_bad_bodies_are_invalid() {
    let err = chat::decode_request(br#"{"model":"m","messages":[],"n":2}"#).unwrap_err();
    assert!(matches!(err, ConvertError::Unsupported(_)));
    assert!(chat::decode_request(br#"{"model":"m","messages":[],"n":1}"#).is_ok());
    assert!(matches!(
        chat::decode_request(b"{"),
        Err(ConvertError::Invalid(_))
    ));
    assert!(matches!(
        chat::decode_request(br#"{"messages":[{"role":"wizard","content":"x"}]}"#),
        Err(ConvertError::Invalid(_))
    ));
}

#[test]
fn legacy_functions_and_tool_choice_forms() {
    let req = decode(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "name": "f", "content": "done"}
        ],
        "functions": [{"name": "f", "parameters": {"type": "object"}}],
        "function_call": {"name": "f"},
        "max_tokens": 10
    }));
    assert_eq!(req.tools.len(), 1);
    assert_eq!(req.tool_choice, Some(ToolChoice::Tool { name: "f".into() }));
    assert_eq!(req.max_tokens, Some(10));
    let call_id = match &req.messages[1].content[0] {
        Part::ToolCall { id, .. } => id.clone(),
        p => panic!("{p:?}"),
    };
    assert!(
        matches!(&req.messages[2].content[0], Part::ToolResult { call_id: c, name: Some(n), .. } if *c == call_id && n == "f")
    );
    let named = decode(
        json!({"messages": [], "tools": [{"type":"function","function":{"name":"g"}}],
        "tool_choice": {"type": "function", "function": {"name": "g"}}, "reasoning_effort": "none"}),
    );
    assert_eq!(
        named.tool_choice,
        Some(ToolChoice::Tool { name: "g".into() })
    );
    assert!(named.reasoning.as_ref().unwrap().disabled);
    let custom = decode(
        json!({"messages": [], "tools": [{"type":"custom","custom":{"name":"c"}}],
        "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}}),
    );
    assert!(custom.tools.is_empty());
    assert_eq!(
        custom.dropped,
        vec!["openai_chat.tools.custom", "openai_chat.tool_choice"]
    );
}

#[test]
fn encoding_rules() {
    let req = Request {
        model: "m".into(),
        system: vec![
            Part::text("s"),
            Part::Image {
                source: ImageSource::Url { url: "u".into() },
                detail: None,
            },
        ],
        stop: ["1", "2", "3", "4", "5"].map(String::from).to_vec(),
        messages: vec![
            Message {
                role: Role::System,
                content: vec![],
            },
            Message {
                role: Role::User,
                content: vec![Part::text("a"), Part::text("b")],
            },
            Message {
                role: Role::Assistant,
                content: vec![Part::ToolCall {
                    id: "c1".into(),
                    name: "f".into(),
                    arguments: String::new(),
                    signature: None,
                }],
            },
            Message {
                role: Role::User,
                content: vec![
                    Part::text("and"),
                    Part::ToolResult {
                        call_id: "c1".into(),
                        name: None,
                        content: vec![Part::Image {
                            source: ImageSource::Url { url: "u".into() },
                            detail: None,
                        }],
                        is_error: true,
                    },
                ],
            },
        ],
        tool_choice: Some(ToolChoice::Auto),
        top_k: Some(3),
        max_tokens: Some(9),
        reasoning: Some(Reasoning {
            disabled: true,
            ..Reasoning::default()
        }),
        ..Request::default()
    };
    let mut dropped = Vec::new();
    let body: Value = serde_json::from_slice(
        &chat::encode_request(
            &req,
            &EncodeOptions {
                model: "up".into(),
                ..EncodeOptions::default()
            },
            &mut dropped,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body,
        json!({
            "model": "up",
            "messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "ab"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "content": "", "tool_call_id": "c1"},
                {"role": "user", "content": "and"}
            ],
            "max_tokens": 9,
            "stop": ["1", "2", "3", "4"]
        })
    );
    assert_eq!(
        dropped,
        vec![
            "openai_chat.system.non_text",
            "openai_chat.tool_result.is_error",
            "openai_chat.tool_result.image",
            "openai_chat.tool_choice",
            "openai_chat.top_k",
            "openai_chat.stop"
        ]
    );
}

#[test]
fn stop_reasons_both_ways() {
    for (wire, canon) in [
        ("stop", StopReason::EndTurn),
        ("length", StopReason::MaxTokens),
        ("tool_calls", StopReason::ToolUse),
        ("function_call", StopReason::ToolUse),
        ("content_filter", StopReason::ContentFilter),
        ("weird", StopReason::Other("weird".into())),
    ] {
        assert_eq!(chat::stop_from_wire(wire), canon, "{wire}");
    }
    for (canon, wire) in [
        (StopReason::EndTurn, "stop"),
        (StopReason::StopSequence, "stop"),
        (StopReason::MaxTokens, "length"),
        (StopReason::ToolUse, "tool_calls"),
        (StopReason::ContentFilter, "content_filter"),
        (StopReason::Other("pause_turn".into()), "stop"),
    ] {
        assert_eq!(chat::stop_to_wire(&canon), wire);
    }
}

#[test]
fn usage_mapping() {
    let body = br#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
        "usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":8}}}"#;
    let want = Usage {
        input_tokens: 100,
        output_tokens: 20,
        cache_read_tokens: 40,
        cache_creation_tokens: 0,
        reasoning_tokens: 8,
    };
    assert_eq!(chat::usage_of_response(body), Some(want));
    assert_eq!(chat::decode_response(body).unwrap().usage, Some(want));
    // DeepSeek's cache-hit field.
    let ds = br#"{"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_cache_hit_tokens":6}}"#;
    assert_eq!(chat::usage_of_response(ds).unwrap().cache_read_tokens, 6);
    assert_eq!(
        chat::sniff_usage(
            None,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#
        ),
        Some(Usage {
            input_tokens: 3,
            output_tokens: 4,
            ..Usage::default()
        })
    );
    assert_eq!(
        chat::sniff_usage(None, r#"{"choices":[{"delta":{"content":"x"}}]}"#),
        None
    );
    // Encoded: prompt_tokens includes cached tokens, as canonical does.
    let resp = Response {
        id: "r".into(),
        model: "m".into(),
        content: vec![Part::text("hi")],
        stop_reason: StopReason::EndTurn,
        usage: Some(want),
    };
    let out: Value =
        serde_json::from_slice(&chat::encode_response(&resp, &ResponseOptions::default())).unwrap();
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
               "prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":8}})
    );
}

#[test]
fn responses_decode_and_encode() {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "deepseek-reasoner",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me check.", "reasoning_content": "User wants weather.",
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]
        }}]
    });
    let resp = chat::decode_response(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(resp.stop_reason, StopReason::ToolUse);
    assert_eq!(resp.content.len(), 3);
    assert!(
        matches!(&resp.content[0], Part::Reasoning { text, .. } if text == "User wants weather.")
    );
    insta::assert_json_snapshot!("response_canonical", resp);
    let opts = ResponseOptions {
        model: "client-model".into(),
        id: Some("gw-1".into()),
        created: 1700000000,
        ..ResponseOptions::default()
    };
    for d in Dialect::ALL {
        let out = codec::encode_response(d, &resp, &opts);
        let v: Value = serde_json::from_slice(&out)
            .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&out)}));
        insta::assert_json_snapshot!(format!("response_to_{d}"), v);
    }
    let back = chat::decode_response(&chat::encode_response(&resp, &opts)).unwrap();
    assert_eq!(back.content, resp.content);
    assert!(chat::decode_response(br#"{"choices":[]}"#).is_err());
}

#[test]
fn gemini_call_signatures_survive_a_chat_client_round_trip() {
    let sig = Some(modelgate_formats::canonical::Signature {
        dialect: Dialect::Gemini,
        value: "CiQB+/sig==".into(),
    });
    let resp = Response {
        id: "r".into(),
        model: "m".into(),
        content: vec![Part::ToolCall {
            id: "call_1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: sig.clone(),
        }],
        stop_reason: StopReason::ToolUse,
        usage: None,
    };
    let shown: Value =
        serde_json::from_slice(&chat::encode_response(&resp, &ResponseOptions::default())).unwrap();
    let shown_id = shown["choices"][0]["message"]["tool_calls"][0]["id"].clone();
    assert_eq!(shown_id, "call_1|mg1:gemini:CiQB+/sig==");
    let next = decode(json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": shown["choices"][0]["message"]["tool_calls"]},
        {"role": "tool", "tool_call_id": shown_id, "content": "ok"}
    ]}));
    assert_eq!(next.messages[1].content, resp.content);
    assert!(
        matches!(&next.messages[2].content[0], Part::ToolResult { call_id, name: Some(n), .. } if call_id == "call_1" && n == "f")
    );
    // Upstream gets the plain id.
    let (body, _) = enc(Dialect::OpenaiChat, &next);
    assert_eq!(body["messages"][1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(body["messages"][2]["tool_call_id"], "call_1");
    // Streams too.
    let mut e = chat::Encoder::new(&ResponseOptions::default());
    let mut out = Vec::new();
    e.push(
        &StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "f".into(),
            signature: sig,
        },
        &mut out,
    );
    let (chunks, _) = parse_chat_client(&out);
    assert_eq!(
        chunks[1]["choices"][0]["delta"]["tool_calls"][0]["id"],
        "call_1|mg1:gemini:CiQB+/sig=="
    );
}

#[test]
fn errors_both_ways() {
    for kind in [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::PaymentRequired,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::RequestTooLarge,
        ErrorKind::RateLimit,
        ErrorKind::Api,
        ErrorKind::BadGateway,
        ErrorKind::Overloaded,
        ErrorKind::Timeout,
    ] {
        let e = ErrorInfo::new(kind, "boom");
        let body = chat::encode_error(&e);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["message"], "boom");
        assert_eq!(v["error"]["type"], chat::kind_to_type(kind));
        assert!(v["error"].get("param").is_some() && v["error"].get("code").is_some());
        let back = chat::decode_error(e.status, &body).unwrap();
        assert_eq!(back.status, e.status);
        assert_eq!(back.message, "boom");
    }
    let rl: Value = serde_json::from_slice(&chat::encode_error(&ErrorInfo::new(
        ErrorKind::RateLimit,
        "slow",
    )))
    .unwrap();
    assert_eq!(
        rl,
        json!({"error":{"message":"slow","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}})
    );
    let e = chat::decode_error(
        404,
        br#"{"error":{"message":"The model `x` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
    )
    .unwrap();
    assert_eq!(
        (e.kind, e.status, e.code.as_deref()),
        (ErrorKind::InvalidRequest, 404, Some("model_not_found"))
    );
    // Other compatible servers' shapes, only with an error status.
    let e = chat::decode_error(429, br#"{"error":"too many requests"}"#).unwrap();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::RateLimit, "too many requests")
    );
    let e = chat::decode_error(401, br#"{"message":"bad key"}"#).unwrap();
    assert_eq!(e.kind, ErrorKind::Authentication);
    let e = chat::decode_error(
        422,
        br#"{"detail":[{"loc":["body"],"msg":"field required"}]}"#,
    )
    .unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("field required"));
    let e = chat::decode_error(503, br#"{"detail":"Service Unavailable"}"#).unwrap();
    assert_eq!((e.kind, e.status), (ErrorKind::Overloaded, 503));
    let e = chat::decode_error(500, br#"{"error":{"message":"m","code":500}}"#).unwrap();
    assert_eq!(e.code.as_deref(), Some("500"));
    assert_eq!(chat::decode_error(200, br#"{"message":"fine"}"#), None);
    assert_eq!(chat::decode_error(500, b"<html>oops</html>"), None);
    assert_eq!(chat::decode_error(200, br#"{"id":"x","choices":[]}"#), None);
}

// ---- streams ----

const CHAT_STREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Let me \"}}]}\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"think.\"}}]}\n\n",
    ": keep-alive\n\n",
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Checking \"}}]}\r\n\r\n",
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

fn decode_stream(d: Dialect, bytes: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut splitter = SseSplitter::new();
    let mut dec = codec::stream_decoder(d);
    let mut out = Vec::new();
    let mut prev = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    for p in points {
        splitter.push(&bytes[prev..p]).unwrap();
        prev = p;
        while let Some(block) = splitter.next_event() {
            let ev = SseEvent::parse(&block);
            if let Some(data) = ev.data {
                dec.push(ev.event, &data, &mut out).unwrap();
            }
        }
    }
    dec.finish(&mut out);
    out
}

fn expected_chat_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "up".into(),
        },
        StreamEvent::ReasoningDelta {
            text: "Let me ".into(),
        },
        StreamEvent::ReasoningDelta {
            text: "think.".into(),
        },
        StreamEvent::TextDelta {
            text: "Checking ".into(),
        },
        StreamEvent::TextDelta {
            text: "both.".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_a".into(),
            name: "get_weather".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"city\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "\"Paris\"}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_b".into(),
            name: "get_time".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{\"tz\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "\"CET\"}".into(),
        },
        StreamEvent::ToolCallEnd { index: 0 },
        StreamEvent::ToolCallEnd { index: 1 },
        StreamEvent::Usage {
            usage: Usage {
                input_tokens: 20,
                output_tokens: 10,
                cache_read_tokens: 5,
                cache_creation_tokens: 0,
                reasoning_tokens: 4,
            },
        },
        StreamEvent::Stop {
            reason: StopReason::ToolUse,
        },
    ]
}

#[test]
fn stream_decodes_reasoning_text_and_parallel_tool_calls() {
    assert_eq!(
        decode_stream(Dialect::OpenaiChat, CHAT_STREAM.as_bytes(), &[]),
        expected_chat_events()
    );
}

#[test]
fn stream_without_done_or_finish_still_stops() {
    let cut = CHAT_STREAM
        .find("data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},")
        .unwrap();
    let evs = decode_stream(Dialect::OpenaiChat, &CHAT_STREAM.as_bytes()[..cut], &[]);
    assert_eq!(
        evs.last(),
        Some(&StreamEvent::Stop {
            reason: StopReason::Other("incomplete".into())
        })
    );
    assert!(evs.contains(&StreamEvent::ToolCallEnd { index: 1 }));
    let evs = decode_stream(
        Dialect::OpenaiChat,
        b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
        &[],
    );
    assert!(matches!(&evs[0], StreamEvent::Error { error } if error.message == "overloaded"));
}

#[test]
fn compatible_server_quirks_in_streams_and_responses() {
    // Every call at index 0 (told apart by id), `stop` after tool calls, usage in the last
    // choice chunk, no [DONE].
    let stream = concat!(
        "data: {\"id\":\"g\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n",
        "data: {\"id\":\"g\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\":1}\"}}]}}]}\n\n",
        "data: {\"id\":\"g\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1}}\n\n",
    );
    let evs = decode_stream(Dialect::OpenaiChat, stream.as_bytes(), &[]);
    assert_eq!(
        evs,
        vec![
            StreamEvent::Start {
                id: "g".into(),
                model: "m".into()
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "a".into(),
                name: "f".into(),
                signature: None
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{}".into()
            },
            StreamEvent::ToolCallEnd { index: 0 },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "b".into(),
                name: "g".into(),
                signature: None
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                arguments: "{\"x\":1}".into()
            },
            StreamEvent::ToolCallEnd { index: 1 },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: 2,
                    output_tokens: 1,
                    ..Usage::default()
                }
            },
            StreamEvent::Stop {
                reason: StopReason::ToolUse
            },
        ]
    );
    let resp = chat::decode_response(
        br#"{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#,
    )
    .unwrap();
    assert_eq!(resp.stop_reason, StopReason::ToolUse);
}

fn parse_chat_client(bytes: &[u8]) -> (Vec<Value>, bool) {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut chunks = Vec::new();
    let mut done = false;
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        let data = block.strip_prefix("data: ").expect("data line");
        assert!(!done, "nothing after [DONE]");
        if data == "[DONE]" {
            done = true;
        } else {
            chunks.push(serde_json::from_str(data).expect("chunk json"));
        }
    }
    (chunks, done)
}

#[test]
fn stream_encoder_writes_the_openai_chunk_sequence() {
    let opts = ResponseOptions {
        model: "client".into(),
        id: Some("chatcmpl-gw".into()),
        created: 42,
        include_usage: true,
        ..ResponseOptions::default()
    };
    let mut enc = chat::Encoder::new(&opts);
    let mut out = Vec::new();
    for e in expected_chat_events() {
        enc.push(&e, &mut out);
    }
    enc.finish(&mut out);
    let (chunks, done) = parse_chat_client(&out);
    assert!(done);
    insta::assert_json_snapshot!("stream_encoded_chunks", chunks);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role":"assistant","content":""})
    );
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], "chatcmpl-gw");
        assert_eq!(c["model"], "client");
        assert_eq!(c["created"], 42);
    }
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 20);
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    // Without include_usage, no usage-only chunk.
    let mut enc = chat::Encoder::new(&ResponseOptions::default());
    let mut out = Vec::new();
    for e in expected_chat_events() {
        enc.push(&e, &mut out);
    }
    enc.finish(&mut out);
    let (chunks, _) = parse_chat_client(&out);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

// ---- properties ----

fn arb_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "model",
        "messages",
        "role",
        "content",
        "type",
        "text",
        "image_url",
        "url",
        "tool_calls",
        "id",
        "function",
        "name",
        "arguments",
        "tool_call_id",
        "tools",
        "tool_choice",
        "stop",
        "n",
        "choices",
        "delta",
        "message",
        "finish_reason",
        "usage",
        "index",
        "error",
        "reasoning_content",
        "response_format",
        "json_schema",
        "prompt_tokens",
        "detail",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "user",
            "assistant",
            "tool",
            "system",
            "developer",
            "function",
            "text",
            "image_url",
            "function",
            "stop",
            "auto",
            "required",
            "json_schema",
            "data:image/png;base64,AA",
        ])
        .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn arb_request() -> impl Strategy<Value = Request> {
    let id = "[a-z0-9_]{1,8}";
    let name = "[a-z_]{1,8}";
    let text = "[ -~]{1,12}";
    let call = (
        id,
        name,
        prop::collection::btree_map("[a-z]{1,4}", "[a-z0-9]{0,4}", 0..3),
    )
        .prop_map(|(id, name, args)| {
            (
                format!("call_{id}"),
                name,
                serde_json::to_string(&args).unwrap(),
            )
        });
    let turn = (text, prop::collection::vec(call, 0..3), "[ -~]{0,12}");
    prop::collection::vec(turn, 1..4).prop_map(|turns| {
        let mut messages = Vec::new();
        let mut n = 0;
        for (user, calls, reply) in turns {
            messages.push(Message {
                role: Role::User,
                content: vec![Part::text(user)],
            });
            let mut content = Vec::new();
            if !reply.is_empty() {
                content.push(Part::text(reply));
            }
            let mut results = Vec::new();
            for (id, name, arguments) in calls {
                // Tool-call ids are unique in a conversation.
                n += 1;
                let id = format!("{id}{n}");
                results.push(Part::ToolResult {
                    call_id: id.clone(),
                    name: Some(name.clone()),
                    content: vec![Part::text(format!("result of {name}"))],
                    is_error: false,
                });
                content.push(Part::ToolCall {
                    id,
                    name,
                    arguments,
                    signature: None,
                });
            }
            if content.is_empty() {
                content.push(Part::text("ok"));
            }
            messages.push(Message {
                role: Role::Assistant,
                content,
            });
            if !results.is_empty() {
                messages.push(Message {
                    role: Role::User,
                    content: results,
                });
            }
        }
        Request {
            model: "m".into(),
            system: vec![Part::text("sys")],
            messages,
            tools: vec![Tool {
                name: "t".into(),
                description: None,
                parameters: json!({"type": "object"}),
                strict: None,
                cache_control: None,
            }],
            ..Request::default()
        }
    })
}

/// What must survive a round trip: text, tool names, arguments and ids, in order.
fn essence(messages: &[Message]) -> Vec<String> {
    let mut out = Vec::new();
    for m in messages {
        for p in &m.content {
            match p {
                Part::Text { text, .. } => out.push(format!("{:?} text {text}", m.role)),
                Part::ToolCall {
                    id,
                    name,
                    arguments,
                    ..
                } => out.push(format!("call {id} {name} {arguments}")),
                Part::ToolResult {
                    call_id,
                    name,
                    content,
                    ..
                } => out.push(format!("result {call_id} {name:?} {}", content.len())),
                other => out.push(format!("{other:?}")),
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoders_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = chat::decode_request(&bytes);
        let _ = chat::decode_response(&bytes);
        let _ = chat::usage_of_response(&bytes);
        let _ = chat::decode_error(400, &bytes);
        let s = String::from_utf8_lossy(&bytes);
        let _ = chat::sniff_usage(None, &s);
        let mut d = chat::Decoder::new();
        let mut out = Vec::new();
        let _ = d.push(None, &s, &mut out);
        d.finish(&mut out);
    }

    #[test]
    fn decoders_never_panic_on_json(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(req) = chat::decode_request(&bytes) {
            for d in Dialect::ALL {
                let mut dropped = Vec::new();
                let _ = codec::encode_request(d, &req, &opts(), &mut dropped);
            }
        }
        if let Ok(resp) = chat::decode_response(&bytes) {
            let _ = chat::encode_response(&resp, &ResponseOptions::default());
        }
        let _ = chat::decode_error(500, &bytes);
        let mut d = chat::Decoder::new();
        let mut out = Vec::new();
        let _ = d.push(None, &String::from_utf8_lossy(&bytes), &mut out);
        d.finish(&mut out);
        let mut e = chat::Encoder::new(&ResponseOptions::default());
        let mut buf = Vec::new();
        for ev in &out { e.push(ev, &mut buf); }
        e.finish(&mut buf);
    }

    #[test]
    fn chunk_boundaries_do_not_change_events(cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        prop_assert_eq!(decode_stream(Dialect::OpenaiChat, CHAT_STREAM.as_bytes(), &cuts), expected_chat_events());
    }

    #[test]
    fn request_round_trip_keeps_text_tools_and_ids(req in arb_request()) {
        let mut dropped = Vec::new();
        let body = chat::encode_request(&req, &opts(), &mut dropped).unwrap();
        let back = chat::decode_request(&body).unwrap();
        prop_assert_eq!(essence(&back.messages), essence(&req.messages));
        prop_assert_eq!(back.system, req.system);
        prop_assert_eq!(back.tools, req.tools);
    }

    #[test]
    fn response_round_trip(text in "[ -~]{1,20}", id in "[a-z0-9]{1,8}", args in "[a-z]{0,5}") {
        let resp = Response {
            id: "r".into(),
            model: "m".into(),
            content: vec![
                Part::Reasoning { text: "why".into(), signature: None, encrypted: None, id: None },
                Part::text(text),
                Part::ToolCall { id: format!("call_{id}"), name: "f".into(), arguments: json!({"a": args}).to_string(), signature: None },
            ],
            stop_reason: StopReason::ToolUse,
            usage: Some(Usage { input_tokens: 5, output_tokens: 3, ..Usage::default() }),
        };
        let back = chat::decode_response(&chat::encode_response(&resp, &ResponseOptions::default())).unwrap();
        prop_assert_eq!(back.content, resp.content);
        prop_assert_eq!(back.stop_reason, resp.stop_reason);
        prop_assert_eq!(back.usage, resp.usage);
    }
}
