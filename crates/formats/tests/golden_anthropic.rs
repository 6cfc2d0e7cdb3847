//! Golden and behaviour tests of the Anthropic codec: the captured Claude Code request decoded
//! to canonical and encoded to every dialect, hand-written multi-turn/tool/image/thinking cases,
//! the encoding rules (alternation, tool results first, thinking budget, dropped fields),
//! stop-reason and usage mappings, responses, stream decode/encode, errors, and property tests
//! (no panics, chunk boundaries, round trips).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use modelgate_formats::Dialect;
use modelgate_formats::anthropic as anth;
use modelgate_formats::canonical::{
    Effort, EncodeOptions, ErrorInfo, ErrorKind, ImageSource, Message, Part, Reasoning, Request,
    Response, ResponseFormat, ResponseOptions, Role, Signature, StopReason, StreamDecoder,
    StreamEncoder, StreamEvent, Tool, ToolChoice, Usage,
};
use modelgate_formats::codec;
use modelgate_formats::sse::{SseEvent, SseSplitter};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixture() -> Value {
    let path = format!(
        "{}/../../../shared/fixtures/clients/claude-code-2.1.197.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let line = std::fs::read_to_string(path).expect("fixture");
    serde_json::from_str(line.lines().next().expect("a line")).expect("json")
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
    anth::decode_request(&serde_json::to_vec(&body).unwrap()).expect("decode")
}

fn anth_sig(v: &str) -> Option<Signature> {
    Some(Signature {
        dialect: Dialect::Anthropic,
        value: v.into(),
    })
}

#[test]
fn claude_code_fixture_decodes_and_converts() {
    let f = fixture();
    assert!(f["path"].as_str().unwrap().starts_with("/v1/messages"));
    let req = anth::decode_request(&serde_json::to_vec(&f["body"]).unwrap()).expect("decode");
    assert!(req.stream);
    assert_eq!(req.max_tokens, Some(32000));
    assert_eq!(req.tools.len(), 24);
    assert_eq!(req.system.len(), 3);
    assert!(matches!(
        &req.system[1],
        Part::Text {
            cache_control: Some(_),
            ..
        }
    ));
    assert!(req.messages.iter().any(|m| m.role == Role::System));
    assert_eq!(
        req.reasoning,
        Some(Reasoning {
            effort: Some(Effort::High),
            ..Reasoning::default()
        })
    );
    assert!(req.user.as_deref().unwrap().contains("session_id"));
    assert_eq!(req.dropped, vec!["anthropic.context_management"]);
    insta::assert_json_snapshot!("claude_code_canonical", req);
    for d in Dialect::ALL {
        let (body, dropped) = enc(d, &req);
        insta::assert_json_snapshot!(
            format!("claude_code_to_{d}"),
            json!({"body": body, "dropped": dropped})
        );
    }
    // To chat: system blocks → one system message, the mid-conversation system message stays.
    let (body, _) = enc(Dialect::OpenaiChat, &req);
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert!(msgs[1..].iter().any(|m| m["role"] == "system"));
    assert_eq!(body["reasoning_effort"], "high");
    assert_eq!(body["max_completion_tokens"], 32000);
    assert_eq!(body["tools"].as_array().unwrap().len(), 24);
    assert!(
        body.get("user").is_none(),
        "too long for OpenAI's user field"
    );
    // Back to Anthropic: thinking enabled (high → 24576), max_tokens above it.
    let (body, _) = enc(Dialect::Anthropic, &req);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 24576})
    );
    assert_eq!(body["max_tokens"], 32000);
    assert_eq!(
        body["system"][1]["cache_control"],
        json!({"type": "ephemeral"})
    );
}

fn multi_turn_body() -> Value {
    json!({
        "model": "claude-x",
        "max_tokens": 2000,
        "system": "Be helpful.",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather and time?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Two tools.", "signature": "EqQBCkYIBxgC"},
                {"type": "redacted_thinking", "data": "EmwKAhgB"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {"tz": "CET"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "is_error": true,
                 "content": [{"type": "text", "text": "clock broken"}]}
            ]},
            {"role": "system", "content": "Reply in French."},
            {"role": "user", "content": "Merci"}
        ],
        "tools": [
            {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}, "cache_control": {"type": "ephemeral"}},
            {"name": "get_time", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "thinking": {"type": "enabled", "budget_tokens": 1500},
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        "stop_sequences": ["STOP"],
        "top_k": 5,
        "metadata": {"user_id": "user-9"},
        "service_tier": "auto",
        "stream": false
    })
}

#[test]
fn multi_turn_tools_images_thinking() {
    let req = decode(multi_turn_body());
    assert_eq!(req.system, vec![Part::text("Be helpful.")]);
    assert_eq!(
        req.dropped,
        vec![
            "anthropic.document",
            "anthropic.tools.web_search_20250305",
            "anthropic.service_tier"
        ]
    );
    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.reasoning.as_ref().unwrap().budget_tokens, Some(1500));
    assert_eq!(req.user.as_deref(), Some("user-9"));
    assert_eq!(req.stop, vec!["STOP".to_string()]);
    assert!(matches!(
        req.response_format,
        Some(ResponseFormat::JsonSchema { .. })
    ));
    let a = &req.messages[1].content;
    assert_eq!(
        a[0],
        Part::Reasoning {
            text: "Two tools.".into(),
            signature: anth_sig("EqQBCkYIBxgC"),
            encrypted: None,
            id: None
        }
    );
    assert!(matches!(&a[1], Part::Reasoning { encrypted: Some(e), .. } if e.value == "EmwKAhgB"));
    assert!(
        matches!(&a[3], Part::ToolCall { arguments, .. } if arguments == r#"{"city":"Paris"}"#)
    );
    match &req.messages[2].content[1] {
        Part::ToolResult {
            call_id,
            name,
            content,
            is_error,
        } => {
            assert_eq!(call_id, "toolu_02");
            assert_eq!(name.as_deref(), Some("get_time"));
            assert_eq!(content, &vec![Part::text("clock broken")]);
            assert!(is_error);
        }
        p => panic!("{p:?}"),
    }
    assert_eq!(req.messages[3].role, Role::System);
    insta::assert_json_snapshot!("multi_turn_canonical", req);
    for d in Dialect::ALL {
        let (body, dropped) = enc(d, &req);
        insta::assert_json_snapshot!(
            format!("multi_turn_to_{d}"),
            json!({"body": body, "dropped": dropped})
        );
    }
    // Anthropic → Anthropic keeps signed thinking, redacted thinking and is_error.
    let (body, dropped) = enc(Dialect::Anthropic, &req);
    let assistant = &body["messages"][1]["content"];
    assert_eq!(
        assistant[0],
        json!({"type": "thinking", "thinking": "Two tools.", "signature": "EqQBCkYIBxgC"})
    );
    assert_eq!(
        assistant[1],
        json!({"type": "redacted_thinking", "data": "EmwKAhgB"})
    );
    assert_eq!(body["messages"][2]["content"][1]["is_error"], true);
    assert_eq!(body["thinking"]["budget_tokens"], 1500);
    // With thinking on: forcing tool choice and top_k are dropped.
    assert_eq!(
        body["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert!(body.get("top_k").is_none());
    assert!(dropped.contains(&"anthropic.top_k".to_string()));
}

#[test]
fn encoding_merges_turns_orders_tool_results_and_drops_foreign_reasoning() {
    let req = Request {
        model: "m".into(),
        system: vec![Part::text("s1"), Part::text("s2")],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![Part::text("q1")],
            },
            Message {
                role: Role::User,
                content: vec![Part::text("q2"), Part::text("")],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Reasoning {
                        text: "from deepseek".into(),
                        signature: None,
                        encrypted: None,
                        id: None,
                    },
                    Part::Reasoning {
                        text: "from gemini".into(),
                        signature: Some(Signature {
                            dialect: Dialect::Gemini,
                            value: "g".into(),
                        }),
                        encrypted: None,
                        id: None,
                    },
                    Part::ToolCall {
                        id: "call.1:x".into(),
                        name: "f".into(),
                        arguments: "not json".into(),
                        signature: None,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    Part::text("after"),
                    Part::ToolResult {
                        call_id: "call.1:x".into(),
                        name: None,
                        content: vec![Part::text("r")],
                        is_error: false,
                    },
                ],
            },
        ],
        tools: vec![Tool {
            name: "f".into(),
            description: None,
            parameters: json!({"type": "object"}),
            strict: None,
            cache_control: None,
        }],
        temperature: Some(0.3),
        top_p: Some(0.5),
        reasoning: Some(Reasoning {
            budget_tokens: Some(100),
            ..Reasoning::default()
        }),
        max_tokens: Some(500),
        seed: Some(1),
        ..Request::default()
    };
    let (body, dropped) = enc(Dialect::Anthropic, &req);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "q1"}, {"type": "text", "text": "q2"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1_x", "name": "f", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1_x", "content": [{"type": "text", "text": "r"}]},
                {"type": "text", "text": "after"}
            ]}
        ])
    );
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "s1"}, {"type": "text", "text": "s2"}])
    );
    // An ongoing tool loop without a signed thinking block: thinking switched off, so the
    // sampling parameters stay.
    assert!(body.get("thinking").is_none());
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["max_tokens"], 500);
    assert_eq!(
        dropped,
        vec![
            "anthropic.reasoning_without_signature",
            "anthropic.tool_call.arguments",
            "anthropic.thinking",
            "anthropic.seed"
        ]
    );
    // Not in a tool loop: thinking on with the minimum budget, max_tokens above it,
    // temperature and a low top_p dropped.
    let mut req2 = req.clone();
    req2.messages.truncate(2);
    let (body, dropped) = enc(Dialect::Anthropic, &req2);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(body["max_tokens"], 1524);
    assert!(body.get("temperature").is_none() && body.get("top_p").is_none());
    assert!(dropped.contains(&"anthropic.temperature".to_string()));
    assert!(dropped.contains(&"anthropic.top_p".to_string()));
    // No max_tokens: the configured default, else 4096; disabled thinking is sent as such.
    let mut req3 = req2.clone();
    req3.max_tokens = None;
    req3.reasoning = Some(Reasoning {
        disabled: true,
        ..Reasoning::default()
    });
    let (body, _) = enc(Dialect::Anthropic, &req3);
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["thinking"], json!({"type": "disabled"}));
    assert_eq!(body["temperature"], 0.3);
    let mut dropped = Vec::new();
    let b = anth::encode_request(
        &req3,
        &EncodeOptions {
            default_max_tokens: Some(777),
            ..EncodeOptions::default()
        },
        &mut dropped,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["max_tokens"], 777);
    assert_eq!(v["model"], "m");
}

#[test]
fn thinking_forms_and_effort() {
    let r = decode(json!({"max_tokens": 1, "messages": [], "thinking": {"type": "disabled"}}));
    assert!(r.reasoning.unwrap().disabled);
    let r = decode(
        json!({"max_tokens": 1, "messages": [], "thinking": {"type": "adaptive", "display": "omitted"}, "output_config": {"effort": "low"}}),
    );
    assert_eq!(
        r.reasoning,
        Some(Reasoning {
            effort: Some(Effort::Low),
            include_thoughts: Some(false),
            ..Reasoning::default()
        })
    );
    let r = decode(json!({"max_tokens": 1, "messages": [], "output_config": {"effort": "max"}}));
    assert_eq!(r.reasoning.unwrap().effort, Some(Effort::High));
    let r = decode(
        json!({"max_tokens": 1, "messages": [], "tool_choice": {"type": "tool", "name": "x"}}),
    );
    assert_eq!(r.tool_choice, Some(ToolChoice::Tool { name: "x".into() }));
    let r = decode(json!({"max_tokens": 1, "messages": [], "tool_choice": {"type": "none"}}));
    assert_eq!(r.tool_choice, Some(ToolChoice::None));
    // Effort-only canonical → a budget; chat effort minimal → 1024.
    let req = Request {
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::text("x")],
        }],
        reasoning: Some(Reasoning {
            effort: Some(Effort::Minimal),
            ..Reasoning::default()
        }),
        max_tokens: Some(100),
        ..Request::default()
    };
    let (body, _) = enc(Dialect::Anthropic, &req);
    assert_eq!(body["thinking"]["budget_tokens"], 1024);
    assert_eq!(body["max_tokens"], 1124);
}

#[test]
fn stop_reasons_both_ways() {
    for (wire, canon) in [
        ("end_turn", StopReason::EndTurn),
        ("max_tokens", StopReason::MaxTokens),
        ("model_context_window_exceeded", StopReason::MaxTokens),
        ("stop_sequence", StopReason::StopSequence),
        ("tool_use", StopReason::ToolUse),
        ("refusal", StopReason::ContentFilter),
        ("pause_turn", StopReason::Other("pause_turn".into())),
    ] {
        assert_eq!(anth::stop_from_wire(wire), canon, "{wire}");
    }
    for (canon, wire) in [
        (StopReason::EndTurn, "end_turn"),
        (StopReason::MaxTokens, "max_tokens"),
        (StopReason::StopSequence, "stop_sequence"),
        (StopReason::ToolUse, "tool_use"),
        (StopReason::ContentFilter, "refusal"),
        (StopReason::Other("pause_turn".into()), "pause_turn"),
        (StopReason::Other("SAFETY_X".into()), "end_turn"),
    ] {
        assert_eq!(anth::stop_to_wire(&canon), wire);
    }
}

#[test]
fn usage_mapping_adds_and_subtracts_cache_tokens() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"hi"}],
        "stop_reason":"end_turn","stop_sequence":null,
        "usage":{"input_tokens":10,"cache_creation_input_tokens":30,"cache_read_input_tokens":60,"output_tokens":7,"output_tokens_details":{"thinking_tokens":3}}}"#;
    let want = Usage {
        input_tokens: 100,
        output_tokens: 7,
        cache_read_tokens: 60,
        cache_creation_tokens: 30,
        reasoning_tokens: 3,
    };
    assert_eq!(anth::usage_of_response(body), Some(want));
    let resp = anth::decode_response(body).unwrap();
    assert_eq!(resp.usage, Some(want));
    let out: Value =
        serde_json::from_slice(&anth::encode_response(&resp, &ResponseOptions::default())).unwrap();
    assert_eq!(
        out["usage"],
        json!({"input_tokens":10,"cache_creation_input_tokens":30,"cache_read_input_tokens":60,"output_tokens":7})
    );
    assert_eq!(
        anth::sniff_usage(
            Some("message_start"),
            r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":5,"cache_read_input_tokens":2,"output_tokens":1}}}"#
        ),
        Some(Usage {
            input_tokens: 7,
            output_tokens: 1,
            cache_read_tokens: 2,
            ..Usage::default()
        })
    );
    // message_delta without input_tokens leaves input at 0 so a merge keeps the earlier figure.
    assert_eq!(
        anth::sniff_usage(
            None,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#
        ),
        Some(Usage {
            output_tokens: 9,
            ..Usage::default()
        })
    );
    assert_eq!(
        anth::sniff_usage(
            Some("content_block_delta"),
            r#"{"type":"content_block_delta"}"#
        ),
        None
    );
}

#[test]
fn responses_decode_and_encode() {
    let body = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "sig1"},
            {"type": "text", "text": "Calling."},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 3, "output_tokens": 4}
    });
    let resp = anth::decode_response(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(resp.content.len(), 3);
    assert_eq!(resp.stop_reason, StopReason::ToolUse);
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
    let back = anth::decode_response(&anth::encode_response(&resp, &opts)).unwrap();
    assert_eq!(back.content, resp.content);
    // Reasoning from another dialect is shown with an empty signature.
    let foreign = Response {
        id: String::new(),
        model: "m".into(),
        content: vec![Part::Reasoning {
            text: "r".into(),
            signature: None,
            encrypted: None,
            id: None,
        }],
        stop_reason: StopReason::EndTurn,
        usage: None,
    };
    let v: Value = serde_json::from_slice(&anth::encode_response(
        &foreign,
        &ResponseOptions::default(),
    ))
    .unwrap();
    assert_eq!(
        v["content"][0],
        json!({"type": "thinking", "thinking": "r", "signature": ""})
    );
    assert_eq!(v["id"], "msg_modelgate");
}

fn gemini_sig(v: &str) -> Option<Signature> {
    Some(Signature {
        dialect: Dialect::Gemini,
        value: v.into(),
    })
}

#[test]
fn foreign_signatures_survive_a_claude_code_round_trip() {
    // A Gemini (thought + function-call signatures) and a Responses (encrypted) answer shown
    // to an Anthropic client, replayed by it in the next request.
    let resp = Response {
        id: "r".into(),
        model: "m".into(),
        content: vec![
            Part::Reasoning {
                text: "gemini thought".into(),
                signature: gemini_sig("g1=="),
                encrypted: None,
                id: None,
            },
            Part::Reasoning {
                text: "summary".into(),
                signature: None,
                encrypted: Some(Signature {
                    dialect: Dialect::OpenaiResponses,
                    value: "gAAA:enc".into(),
                }),
                id: None,
            },
            Part::text("Calling."),
            Part::ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: "{}".into(),
                signature: gemini_sig("g2/+"),
            },
        ],
        stop_reason: StopReason::ToolUse,
        usage: None,
    };
    let shown: Value =
        serde_json::from_slice(&anth::encode_response(&resp, &ResponseOptions::default())).unwrap();
    assert_eq!(
        shown["content"],
        json!([
            {"type": "thinking", "thinking": "gemini thought", "signature": "mg1:gemini:g1=="},
            {"type": "thinking", "thinking": "summary", "signature": "mg1:openai_responses:gAAA:enc"},
            {"type": "text", "text": "Calling."},
            {"type": "thinking", "thinking": "", "signature": "mg1:gemini:g2/+"},
            {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
        ])
    );
    let next = decode(json!({
        "model": "m", "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": shown["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "ok"}]}
        ]
    }));
    assert_eq!(next.messages[1].content, resp.content);
    // Never sent to an Anthropic upstream.
    let (body, dropped) = enc(Dialect::Anthropic, &next);
    assert_eq!(
        body["messages"][1]["content"],
        json!([{"type": "text", "text": "Calling."}, {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}])
    );
    assert!(dropped.contains(&"anthropic.reasoning_without_signature".to_string()));

    // The same through the stream encoder.
    let mut enc = anth::Encoder::new(&ResponseOptions::default());
    let mut out = Vec::new();
    for e in [
        StreamEvent::Start {
            id: "r".into(),
            model: "m".into(),
        },
        StreamEvent::ReasoningDelta {
            text: "gemini thought".into(),
        },
        StreamEvent::ReasoningEnd {
            signature: gemini_sig("g1=="),
            encrypted: None,
            id: None,
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "f".into(),
            signature: gemini_sig("g2/+"),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{}".into(),
        },
        StreamEvent::ToolCallEnd { index: 0 },
        StreamEvent::Stop {
            reason: StopReason::ToolUse,
        },
    ] {
        enc.push(&e, &mut out);
    }
    enc.finish(&mut out);
    let evs = parse_anthropic_client(&out);
    let summary: Vec<String> = evs
        .iter()
        .map(|(n, v)| match n.as_str() {
            "content_block_start" => format!("start {} {}", v["index"], v["content_block"]["type"]),
            "content_block_delta" => format!("delta {} {}", v["index"], v["delta"]),
            "content_block_stop" => format!("stop {}", v["index"]),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "message_start",
            "start 0 \"thinking\"",
            r#"delta 0 {"thinking":"gemini thought","type":"thinking_delta"}"#,
            r#"delta 0 {"signature":"mg1:gemini:g1==","type":"signature_delta"}"#,
            "stop 0",
            "start 1 \"thinking\"",
            r#"delta 1 {"signature":"mg1:gemini:g2/+","type":"signature_delta"}"#,
            "stop 1",
            "start 2 \"tool_use\"",
            r#"delta 2 {"partial_json":"{}","type":"input_json_delta"}"#,
            "stop 2",
            "message_delta",
            "message_stop",
        ]
    );
}

#[test]
fn errors_both_ways() {
    for (kind, ty) in [
        (ErrorKind::InvalidRequest, "invalid_request_error"),
        (ErrorKind::Authentication, "authentication_error"),
        (ErrorKind::PaymentRequired, "billing_error"),
        (ErrorKind::Permission, "permission_error"),
        (ErrorKind::NotFound, "not_found_error"),
        (ErrorKind::RequestTooLarge, "request_too_large"),
        (ErrorKind::RateLimit, "rate_limit_error"),
        (ErrorKind::Api, "api_error"),
        (ErrorKind::BadGateway, "api_error"),
        (ErrorKind::Overloaded, "overloaded_error"),
        (ErrorKind::Timeout, "timeout_error"),
    ] {
        let e = ErrorInfo::new(kind, "boom");
        let v: Value = serde_json::from_slice(&anth::encode_error(&e)).unwrap();
        assert_eq!(
            v,
            json!({"type": "error", "error": {"type": ty, "message": "boom"}})
        );
        let back = anth::decode_error(anth::wire_status(&e), &anth::encode_error(&e)).unwrap();
        if kind != ErrorKind::BadGateway {
            assert_eq!(back.kind, kind);
        }
        assert_eq!(back.status, e.status);
    }
    let over = ErrorInfo::new(ErrorKind::Overloaded, "busy");
    assert_eq!(anth::wire_status(&over), 529);
    assert_eq!(
        anth::wire_status(&ErrorInfo::new(ErrorKind::RateLimit, "x")),
        429
    );
    let e = anth::decode_error(
        529,
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#,
    )
    .unwrap();
    assert_eq!((e.kind, e.status), (ErrorKind::Overloaded, 503));
    let e = anth::decode_error(418, br#"{"error":{"message":"teapot"}}"#).unwrap();
    assert_eq!((e.kind, e.status), (ErrorKind::InvalidRequest, 418));
    assert_eq!(
        anth::decode_error(400, br#"{"type":"message","error":{"type":"x"}}"#),
        None
    );
    assert_eq!(anth::decode_error(500, b"upstream connect error"), None);
}

// ---- streams ----

pub const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think.\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBsig\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking \"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"both.\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_a\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_b\",\"name\":\"get_time\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"tz\\\":\\\"CET\\\"}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

fn decode_stream(bytes: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut splitter = SseSplitter::new();
    let mut dec = codec::stream_decoder(Dialect::Anthropic);
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

fn expected_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "claude-x".into(),
        },
        StreamEvent::ReasoningDelta {
            text: "Let me think.".into(),
        },
        StreamEvent::ReasoningEnd {
            signature: anth_sig("EqQBsig"),
            encrypted: None,
            id: None,
        },
        StreamEvent::TextDelta {
            text: "Checking ".into(),
        },
        StreamEvent::TextDelta {
            text: "both.".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "toolu_a".into(),
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
        StreamEvent::ToolCallEnd { index: 0 },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "toolu_b".into(),
            name: "get_time".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{\"tz\":\"CET\"}".into(),
        },
        StreamEvent::ToolCallEnd { index: 1 },
        StreamEvent::Usage {
            usage: Usage {
                input_tokens: 20,
                output_tokens: 42,
                cache_read_tokens: 5,
                cache_creation_tokens: 3,
                reasoning_tokens: 0,
            },
        },
        StreamEvent::Stop {
            reason: StopReason::ToolUse,
        },
    ]
}

#[test]
fn stream_decodes_thinking_text_and_parallel_tool_calls() {
    assert_eq!(
        decode_stream(ANTHROPIC_STREAM.as_bytes(), &[]),
        expected_events()
    );
}

#[test]
fn stream_error_and_redacted_thinking() {
    let evs = decode_stream(
        concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"ENC\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        )
        .as_bytes(),
        &[],
    );
    assert!(
        matches!(&evs[1], StreamEvent::ReasoningEnd { encrypted: Some(e), .. } if e.value == "ENC")
    );
    match evs.last() {
        Some(StreamEvent::Error { error }) => {
            assert_eq!(error.kind, ErrorKind::Overloaded);
            assert_eq!(error.message, "Overloaded");
        }
        e => panic!("{e:?}"),
    }
    // Abrupt end: a Stop is still emitted, after closing the open tool call.
    let cut = ANTHROPIC_STREAM
        .find("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":3}")
        .unwrap();
    let evs = decode_stream(&ANTHROPIC_STREAM.as_bytes()[..cut], &[]);
    let n = evs.len();
    assert_eq!(evs[n - 3], StreamEvent::ToolCallEnd { index: 1 });
    assert_eq!(
        evs[n - 1],
        StreamEvent::Stop {
            reason: StopReason::Other("incomplete".into())
        }
    );
}

/// Parses an Anthropic client stream into (event name, data) pairs, checking the framing.
fn parse_anthropic_client(bytes: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split("\n\n")
        .filter(|b| !b.is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            assert!(lines.next().is_none());
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["type"], name, "event name matches data type");
            (name.to_string(), v)
        })
        .collect()
}

#[test]
fn stream_encoder_writes_the_anthropic_event_sequence() {
    let opts = ResponseOptions {
        model: "claude-client".into(),
        id: Some("msg_gw".into()),
        ..ResponseOptions::default()
    };
    let mut enc = anth::Encoder::new(&opts);
    let mut out = Vec::new();
    for e in expected_events() {
        enc.push(&e, &mut out);
    }
    enc.finish(&mut out);
    let evs = parse_anthropic_client(&out);
    insta::assert_json_snapshot!(
        "stream_encoded_events",
        evs.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()
    );
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(evs[0].1["message"]["id"], "msg_gw");
    assert_eq!(evs[0].1["message"]["model"], "claude-client");
    assert_eq!(evs[0].1["message"]["usage"]["output_tokens"], 0);
    assert_eq!(
        evs[3].1["delta"],
        json!({"type": "signature_delta", "signature": "EqQBsig"})
    );
    assert_eq!(
        evs[9].1["content_block"],
        json!({"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}})
    );
    assert_eq!(
        evs[16].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 12, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 5, "output_tokens": 42}})
    );
}

#[test]
fn stream_encoder_buffers_interleaved_tool_calls_and_reports_abrupt_ends() {
    let mut enc = anth::Encoder::new(&ResponseOptions::default());
    let mut out = Vec::new();
    let evs = [
        StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "a".into(),
            name: "f".into(),
            signature: None,
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "b".into(),
            name: "g".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{\"y\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"x\":1}".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "2}".into(),
        },
    ];
    for e in &evs {
        enc.push(e, &mut out);
    }
    enc.finish(&mut out);
    let got = parse_anthropic_client(&out);
    let summary: Vec<String> = got
        .iter()
        .map(|(n, v)| match n.as_str() {
            "content_block_start" => format!("start {} {}", v["index"], v["content_block"]["id"]),
            "content_block_delta" => format!("delta {} {}", v["index"], v["delta"]["partial_json"]),
            "content_block_stop" => format!("stop {}", v["index"]),
            "error" => format!("error {}", v["error"]["type"]),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "message_start",
            "start 0 \"a\"",
            "delta 0 \"{\\\"x\\\":1}\"",
            "stop 0",
            "start 1 \"b\"",
            "delta 1 \"{\\\"y\\\":2}\"",
            "stop 1",
            "error \"api_error\"",
        ]
    );
}

// ---- properties ----

fn arb_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "model",
        "max_tokens",
        "messages",
        "role",
        "content",
        "type",
        "text",
        "source",
        "data",
        "media_type",
        "url",
        "id",
        "name",
        "input",
        "tool_use_id",
        "is_error",
        "thinking",
        "signature",
        "system",
        "tools",
        "input_schema",
        "tool_choice",
        "budget_tokens",
        "output_config",
        "effort",
        "format",
        "schema",
        "metadata",
        "user_id",
        "message",
        "index",
        "content_block",
        "delta",
        "partial_json",
        "stop_reason",
        "usage",
        "input_tokens",
        "error",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "user",
            "assistant",
            "system",
            "text",
            "image",
            "tool_use",
            "tool_result",
            "thinking",
            "redacted_thinking",
            "base64",
            "url",
            "enabled",
            "adaptive",
            "disabled",
            "any",
            "tool",
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
            "text_delta",
            "input_json_delta",
            "signature_delta",
            "error",
            "overloaded_error",
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
    let call = (
        "[a-zA-Z0-9_]{1,8}",
        "[a-z_]{1,8}",
        prop::collection::btree_map("[a-z]{1,4}", "[a-z0-9]{0,4}", 0..3),
    )
        .prop_map(|(id, name, args)| {
            (
                format!("toolu_{id}"),
                name,
                serde_json::to_string(&args).unwrap(),
            )
        });
    let turn = (
        "[a-zA-Z0-9 ]{1,12}",
        prop::collection::vec(call, 0..3),
        "[a-zA-Z0-9 ]{0,12}",
        proptest::option::of("[a-zA-Z0-9]{4,10}"),
    );
    prop::collection::vec(turn, 1..4).prop_map(|turns| {
        let mut messages = Vec::new();
        let mut n = 0;
        for (user, calls, reply, thinking_sig) in turns {
            messages.push(Message {
                role: Role::User,
                content: vec![Part::text(user)],
            });
            let mut content = Vec::new();
            if let Some(sig) = thinking_sig {
                content.push(Part::Reasoning {
                    text: "thought".into(),
                    signature: anth_sig(&sig),
                    encrypted: None,
                    id: None,
                });
            }
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
            max_tokens: Some(100),
            ..Request::default()
        }
    })
}

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
                } => out.push(format!("result {call_id} {name:?} {content:?}")),
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
        let _ = anth::decode_request(&bytes);
        let _ = anth::decode_response(&bytes);
        let _ = anth::usage_of_response(&bytes);
        let _ = anth::decode_error(400, &bytes);
        let s = String::from_utf8_lossy(&bytes);
        let _ = anth::sniff_usage(None, &s);
        let _ = anth::sniff_usage(Some("message_start"), &s);
        let mut d = anth::Decoder::new();
        let mut out = Vec::new();
        let _ = d.push(None, &s, &mut out);
        d.finish(&mut out);
    }

    #[test]
    fn decoders_never_panic_on_json(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(req) = anth::decode_request(&bytes) {
            for d in Dialect::ALL {
                let mut dropped = Vec::new();
                let _ = codec::encode_request(d, &req, &opts(), &mut dropped);
            }
        }
        if let Ok(resp) = anth::decode_response(&bytes) {
            let _ = anth::encode_response(&resp, &ResponseOptions::default());
        }
        let _ = anth::decode_error(529, &bytes);
        let s = String::from_utf8_lossy(&bytes);
        let _ = anth::sniff_usage(None, &s);
        let mut d = anth::Decoder::new();
        let mut out = Vec::new();
        let _ = d.push(None, &s, &mut out);
        d.finish(&mut out);
        let mut e = anth::Encoder::new(&ResponseOptions::default());
        let mut buf = Vec::new();
        for ev in &out { e.push(ev, &mut buf); }
        e.finish(&mut buf);
    }

    #[test]
    fn chunk_boundaries_do_not_change_events(cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        prop_assert_eq!(decode_stream(ANTHROPIC_STREAM.as_bytes(), &cuts), expected_events());
    }

    #[test]
    fn request_round_trip_keeps_text_tools_ids_and_signatures(req in arb_request()) {
        let mut dropped = Vec::new();
        let body = anth::encode_request(&req, &opts(), &mut dropped).unwrap();
        let back = anth::decode_request(&body).unwrap();
        prop_assert_eq!(essence(&back.messages), essence(&req.messages));
        prop_assert_eq!(back.system, req.system);
        prop_assert!(dropped.is_empty(), "{:?}", dropped);
    }

    #[test]
    fn response_round_trip(text in "[ -~]{1,20}", id in "[a-zA-Z0-9]{1,8}", args in "[a-z]{0,5}", sig in "[a-zA-Z0-9+/]{1,12}") {
        let resp = Response {
            id: "msg_1".into(),
            model: "m".into(),
            content: vec![
                Part::Reasoning { text: "why".into(), signature: anth_sig(&sig), encrypted: None, id: None },
                Part::text(text),
                Part::ToolCall { id: format!("toolu_{id}"), name: "f".into(), arguments: json!({"a": args}).to_string(), signature: None },
            ],
            stop_reason: StopReason::ToolUse,
            usage: Some(Usage { input_tokens: 50, output_tokens: 3, cache_read_tokens: 20, cache_creation_tokens: 10, reasoning_tokens: 0 }),
        };
        let back = anth::decode_response(&anth::encode_response(&resp, &ResponseOptions::default())).unwrap();
        prop_assert_eq!(back.content, resp.content);
        prop_assert_eq!(back.stop_reason, resp.stop_reason);
        prop_assert_eq!(back.usage, resp.usage);
    }
}

#[test]
fn image_sources_round_trip() {
    let req = Request {
        max_tokens: Some(10),
        messages: vec![Message {
            role: Role::User,
            content: vec![
                Part::Image {
                    source: ImageSource::Base64 {
                        media_type: "image/png".into(),
                        data: "AAA".into(),
                    },
                    detail: None,
                },
                Part::Image {
                    source: ImageSource::Url {
                        url: "https://x/y.png".into(),
                    },
                    detail: Some("high".into()),
                },
            ],
        }],
        ..Request::default()
    };
    let mut dropped = Vec::new();
    let back =
        anth::decode_request(&anth::encode_request(&req, &opts(), &mut dropped).unwrap()).unwrap();
    match &back.messages[0].content[..] {
        [Part::Image { source: a, .. }, Part::Image { source: b, .. }] => {
            assert!(matches!(a, ImageSource::Base64 { data, .. } if data == "AAA"));
            assert!(matches!(b, ImageSource::Url { url } if url == "https://x/y.png"));
        }
        c => panic!("{c:?}"),
    }
}
