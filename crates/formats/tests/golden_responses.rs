//! Golden and behaviour tests of the OpenAI Responses codec: the captured Codex CLI request
//! decoded and converted to every dialect, `envelope`, hand-written multi-turn/tool/image/
//! reasoning cases, stop-reason and usage mappings, the stream encoder's event sequence as Codex
//! needs it (text; reasoning + text; two function calls), the stream decoder, transcoding
//! between Gemini and Responses streams, errors, and property tests.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use modelgate_formats::Dialect;
use modelgate_formats::canonical::{
    EncodeOptions, ErrorInfo, ErrorKind, ImageSource, Message, Part, Request, Response,
    ResponseOptions, Role, Signature, StopReason, StreamDecoder, StreamEvent, Tool, ToolChoice,
    Usage,
};
use modelgate_formats::codec;
use modelgate_formats::openai_responses as responses;
use modelgate_formats::sse::{SseEvent, SseSplitter};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixture_body() -> Vec<u8> {
    // `shared/` lies beside the checkout (../shared from the workspace root).
    let line = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/clients/codex-cli-0.169.0.jsonl"
    ))
    .expect("fixture");
    let v: Value = serde_json::from_str(line.lines().next().expect("a line")).expect("json");
    serde_json::to_vec(&v["body"]).expect("body")
}

fn enc(d: Dialect, req: &Request) -> (Value, Vec<String>) {
    let mut dropped = Vec::new();
    let opts = EncodeOptions {
        model: "target-model".into(),
        stream: true,
        default_max_tokens: Some(4096),
        include_usage: true,
    };
    match codec::encode_request(d, req, &opts, &mut dropped) {
        Ok(b) => (serde_json::from_slice(&b).expect("encoded json"), dropped),
        Err(e) => (json!({"error": e.to_string()}), dropped),
    }
}

#[test]
fn codex_fixture_decodes_and_converts() {
    let body = fixture_body();
    let req = responses::decode_request(&body).expect("decode");
    assert_eq!(req.model, "mock-ok");
    assert!(req.stream);
    assert_eq!(req.system.len(), 3, "the leading developer messages");
    assert_eq!(req.messages.len(), 2);
    assert!(req.messages.iter().all(|m| m.role == Role::User));
    assert_eq!(req.tools.len(), 7, "function tools only");
    assert_eq!(req.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(req.parallel_tool_calls, Some(true));
    assert_eq!(
        req.reasoning.as_ref().and_then(|r| r.include_thoughts),
        Some(true)
    );
    assert!(req.prompt_cache_key.is_some());
    for d in [
        "openai_responses.tools.namespace",
        "openai_responses.tools.web_search",
        "openai_responses.client_metadata",
    ] {
        assert!(
            req.dropped.iter().any(|x| x == d),
            "{d} in {:?}",
            req.dropped
        );
    }
    let env = responses::envelope(&body).expect("envelope");
    assert_eq!(env.store, Some(false));
    assert_eq!(env.include, vec!["reasoning.encrypted_content".to_string()]);
    assert_eq!(env.previous_response_id, None);
    insta::assert_json_snapshot!("codex_canonical", req);
    let no_schema =
        br#"{"model":"m","input":"hi","text":{"format":{"type":"json_schema","name":"x"}}}"#;
    assert_eq!(
        responses::decode_request(no_schema)
            .unwrap()
            .response_format,
        Some(modelgate_formats::canonical::ResponseFormat::JsonObject)
    );
    let nulls = br#"{"model":"m","input":"hi","tools":null,"include":null,"instructions":null}"#;
    assert_eq!(responses::decode_request(nulls).unwrap().messages.len(), 1);
    assert_eq!(
        responses::envelope(nulls).unwrap(),
        responses::Envelope::default()
    );
    for d in Dialect::ALL {
        let (body, dropped) = enc(d, &req);
        insta::assert_json_snapshot!(
            format!("codex_to_{d}"),
            json!({"body": body, "dropped": dropped})
        );
    }
}

#[test]
fn multi_turn_items_decode() {
    let body = json!({
        "model": "gpt-5",
        "instructions": "be terse",
        "input": [
            {"role": "user", "content": "look at this"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
                {"type": "input_image", "image_url": "https://x.test/a.jpg", "detail": "auto"},
                {"type": "input_image", "file_id": "file-1", "detail": "auto"},
                {"type": "input_file", "file_id": "file-2"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "a"},
                {"type": "summary_text", "text": "b"}], "encrypted_content": "ENC"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "calling", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "ls", "arguments": "{\"d\":1}"},
            {"type": "function_call", "call_id": "call_b", "name": "cat", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "x y"},
            {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "z"}]},
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "mid"}]},
            {"type": "item_reference", "id": "msg_9"}
        ],
        "tools": [{"type": "function", "name": "ls", "parameters": {"type": "object"}, "strict": true},
                  {"type": "file_search", "vector_store_ids": []}],
        "tool_choice": {"type": "function", "name": "ls"},
        "reasoning": {"effort": "high"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}},
        "max_output_tokens": 500,
        "previous_response_id": "resp_0",
        "store": true,
        "metadata": {"a": "b"},
        "service_tier": "auto"
    });
    let req = responses::decode_request(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(req.system, vec![Part::text("be terse")]);
    assert_eq!(req.messages.len(), 5);
    assert!(matches!(&req.messages[1].content[0],
        Part::Image { source: ImageSource::Base64 { media_type, data }, detail: Some(d) }
        if media_type == "image/png" && data == "AAAA" && d == "low"));
    assert_eq!(req.messages[1].content.len(), 2);
    let a = &req.messages[2];
    assert_eq!(a.role, Role::Assistant);
    assert_eq!(a.content.len(), 4);
    assert!(
        matches!(&a.content[0], Part::Reasoning { text, encrypted: Some(Signature { dialect: Dialect::OpenaiResponses, value }), id: Some(id), .. }
        if text == "a\n\nb" && value == "ENC" && id == "rs_1")
    );
    assert!(
        matches!(&a.content[2], Part::ToolCall { id, name, arguments, .. } if id == "call_a" && name == "ls" && arguments == "{\"d\":1}")
    );
    let u = &req.messages[3];
    assert_eq!(u.role, Role::User);
    assert!(
        matches!(&u.content[0], Part::ToolResult { call_id, name: Some(n), content, .. }
        if call_id == "call_a" && n == "ls" && content == &vec![Part::text("x y")])
    );
    assert!(matches!(&u.content[1], Part::ToolResult { name: Some(n), .. } if n == "cat"));
    assert_eq!(req.messages[4].role, Role::System);
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Tool { name: "ls".into() })
    );
    for d in [
        "openai_responses.input_image.file_id",
        "openai_responses.content.input_file",
        "openai_responses.input.item_reference",
        "openai_responses.tools.file_search",
        "openai_responses.previous_response_id",
        "openai_responses.metadata",
        "openai_responses.service_tier",
    ] {
        assert!(
            req.dropped.iter().any(|x| x == d),
            "{d} in {:?}",
            req.dropped
        );
    }
    insta::assert_json_snapshot!("multi_turn_canonical", req);
    // Back to Responses: the same items come out (ids, encrypted reasoning, outputs).
    let (out, dropped) = enc(Dialect::OpenaiResponses, &req);
    insta::assert_json_snapshot!(
        "multi_turn_to_openai_responses",
        json!({"body": out, "dropped": dropped})
    );
    let items = out["input"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "message",
            "message",
            "reasoning",
            "message",
            "function_call",
            "function_call",
            "function_call_output",
            "function_call_output",
            "message"
        ]
    );
    assert_eq!(items[2]["encrypted_content"], "ENC");
    assert_eq!(
        items[1]["content"][0]["image_url"],
        "data:image/png;base64,AAAA"
    );
    assert_eq!(out["store"], false);
    assert_eq!(out["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(out["reasoning"], json!({"effort": "high"}));
    assert_eq!(out["text"]["format"]["type"], "json_schema");
    assert_eq!(out["instructions"], "be terse");
}

#[test]
fn encode_from_other_dialects() {
    let req = Request {
        model: "m".into(),
        system: vec![Part::text("a"), Part::text("b")],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![Part::text("hi")],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Reasoning {
                        text: "think".into(),
                        signature: Some(Signature {
                            dialect: Dialect::Anthropic,
                            value: "s".into(),
                        }),
                        encrypted: None,
                        id: None,
                    },
                    Part::ToolCall {
                        id: "toolu_1".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                        signature: None,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![Part::ToolResult {
                    call_id: "toolu_1".into(),
                    name: None,
                    content: vec![Part::text("failed")],
                    is_error: true,
                }],
            },
        ],
        tools: vec![Tool {
            name: "f".into(),
            description: None,
            parameters: json!({"type": "object"}),
            strict: None,
            cache_control: None,
        }],
        stop: vec!["x".into()],
        top_k: Some(3),
        reasoning: Some(modelgate_formats::canonical::Reasoning {
            budget_tokens: Some(3000),
            include_thoughts: Some(true),
            ..Default::default()
        }),
        ..Request::default()
    };
    let mut tiny = req.clone();
    tiny.max_tokens = Some(1);
    let (out, dropped) = enc(Dialect::OpenaiResponses, &tiny);
    assert_eq!(out["max_output_tokens"], 16);
    assert!(
        dropped
            .iter()
            .any(|d| d.starts_with("openai_responses.max_output_tokens"))
    );
    let (out, dropped) = enc(Dialect::OpenaiResponses, &req);
    assert_eq!(out["instructions"], "a\n\nb");
    assert_eq!(out["tools"][0]["strict"], false);
    assert_eq!(
        out["reasoning"],
        json!({"effort": "medium", "summary": "auto"})
    );
    assert_eq!(out["model"], "target-model");
    for d in [
        "openai_responses.reasoning(foreign)",
        "openai_responses.function_call_output.is_error",
        "openai_responses.stop",
        "openai_responses.top_k",
    ] {
        assert!(dropped.iter().any(|x| x == d), "{d} in {dropped:?}");
    }
    insta::assert_json_snapshot!(
        "other_dialect_to_openai_responses",
        json!({"body": out, "dropped": dropped})
    );
}

#[test]
fn response_stop_reasons_and_usage() {
    let body = json!({
        "id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "E"},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "hi", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}", "status": "completed"}
        ],
        "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60},
                  "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 130}
    });
    let b = serde_json::to_vec(&body).unwrap();
    let r = responses::decode_response(&b).unwrap();
    let want = Usage {
        input_tokens: 100,
        output_tokens: 30,
        cache_read_tokens: 60,
        cache_creation_tokens: 0,
        reasoning_tokens: 20,
    };
    assert_eq!(r.usage, Some(want));
    assert_eq!(responses::usage_of_response(&b), Some(want));
    assert_eq!(r.stop_reason, StopReason::ToolUse);
    assert_eq!(r.content.len(), 3);
    for (status, reason, want) in [
        ("completed", None, StopReason::EndTurn),
        (
            "incomplete",
            Some("max_output_tokens"),
            StopReason::MaxTokens,
        ),
        (
            "incomplete",
            Some("content_filter"),
            StopReason::ContentFilter,
        ),
        ("failed", None, StopReason::Other("failed".into())),
    ] {
        let body = json!({"id": "r", "status": status, "output": [],
            "incomplete_details": reason.map(|r| json!({"reason": r}))});
        let r = responses::decode_response(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(r.stop_reason, want, "{status}");
    }
    for (reason, status, detail) in [
        (StopReason::EndTurn, "completed", Value::Null),
        (StopReason::ToolUse, "completed", Value::Null),
        (StopReason::StopSequence, "completed", Value::Null),
        (
            StopReason::MaxTokens,
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        ),
        (
            StopReason::ContentFilter,
            "incomplete",
            json!({"reason": "content_filter"}),
        ),
    ] {
        let resp = Response {
            id: "chatcmpl-9".into(),
            model: "up".into(),
            content: vec![Part::text("x")],
            stop_reason: reason,
            usage: Some(want),
        };
        let v: Value = serde_json::from_slice(&responses::encode_response(
            &resp,
            &ResponseOptions {
                model: "client".into(),
                created: 7,
                ..ResponseOptions::default()
            },
        ))
        .unwrap();
        assert_eq!(v["status"], status);
        assert_eq!(v["incomplete_details"], detail);
        assert_eq!(v["id"], "resp_chatcmpl-9");
        assert_eq!(v["object"], "response");
        assert_eq!(v["created_at"], 7);
        assert_eq!(v["model"], "client");
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60},
                "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 130})
        );
    }
    let v: Value = serde_json::from_slice(&responses::encode_response(
        &r,
        &ResponseOptions {
            id: Some("resp_gw".into()),
            ..ResponseOptions::default()
        },
    ))
    .unwrap();
    insta::assert_json_snapshot!("response_object", v);
    assert_eq!(v["output"][0]["encrypted_content"], "E");
    assert_eq!(v["output"][1]["content"][0]["annotations"], json!([]));
    assert_eq!(v["output"][2]["call_id"], "call_1");
}

/// Parses SSE bytes into (event name, data JSON) pairs.
fn parse_sse(bytes: &[u8]) -> Vec<(String, Value)> {
    let mut s = SseSplitter::new();
    s.push(bytes).unwrap();
    let mut out = Vec::new();
    while let Some(b) = s.next_event() {
        let e = SseEvent::parse(&b);
        let data: Value = serde_json::from_str(&e.data.expect("data")).expect("json data");
        let name = e.event.expect("event name").to_string();
        assert_eq!(data["type"], name.as_str(), "event: line matches type");
        out.push((name, data));
    }
    out
}

fn encode(events: &[StreamEvent]) -> Vec<(String, Value)> {
    let mut enc = codec::stream_encoder(
        Dialect::OpenaiResponses,
        &ResponseOptions {
            model: "gpt-5-codex".into(),
            id: Some("resp_abc".into()),
            created: 1700000000,
            ..ResponseOptions::default()
        },
    );
    let mut out = Vec::new();
    for e in events {
        enc.push(e, &mut out);
    }
    enc.finish(&mut out);
    let evs = parse_sse(&out);
    for (i, (_, d)) in evs.iter().enumerate() {
        assert_eq!(
            d["sequence_number"], i as u64,
            "sequence numbers count from 0"
        );
    }
    evs
}

fn names(evs: &[(String, Value)]) -> Vec<&str> {
    evs.iter().map(|(n, _)| n.as_str()).collect()
}

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: "up-1".into(),
        model: "upstream-model".into(),
    }
}

fn usage() -> StreamEvent {
    StreamEvent::Usage {
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            cache_read_tokens: 4,
            cache_creation_tokens: 0,
            reasoning_tokens: 2,
        },
    }
}

#[test]
fn stream_encoder_text_only() {
    let evs = encode(&[
        start(),
        StreamEvent::TextDelta { text: "Hel".into() },
        StreamEvent::TextDelta { text: "lo".into() },
        usage(),
        StreamEvent::Stop {
            reason: StopReason::EndTurn,
        },
    ]);
    assert_eq!(
        names(&evs),
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let created = &evs[0].1["response"];
    assert_eq!(created["id"], "resp_abc");
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["output"], json!([]));
    assert_eq!(created["model"], "gpt-5-codex");
    let added = &evs[2].1;
    assert_eq!(added["output_index"], 0);
    let item_id = added["item"]["id"].as_str().unwrap();
    assert!(item_id.starts_with("msg_"));
    assert_eq!(added["item"]["type"], "message");
    assert_eq!(added["item"]["status"], "in_progress");
    for (_, d) in &evs[3..9] {
        assert_eq!(d["item_id"].as_str().unwrap_or(item_id), item_id);
        assert_eq!(d["output_index"], 0);
    }
    assert_eq!(
        evs[3].1["part"],
        json!({"type": "output_text", "text": "", "annotations": []})
    );
    assert_eq!(evs[4].1["delta"], "Hel");
    assert_eq!(evs[4].1["content_index"], 0);
    assert_eq!(evs[6].1["text"], "Hello");
    assert_eq!(evs[8].1["item"]["content"][0]["text"], "Hello");
    assert_eq!(evs[8].1["item"]["status"], "completed");
    let done = &evs[9].1["response"];
    assert_eq!(done["id"], "resp_abc");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["id"], item_id);
    assert_eq!(
        done["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15})
    );
    insta::assert_json_snapshot!(
        "stream_text_only",
        evs.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn stream_encoder_reasoning_then_text() {
    let evs = encode(&[
        start(),
        StreamEvent::ReasoningDelta {
            text: "Let me ".into(),
        },
        StreamEvent::ReasoningDelta {
            text: "think".into(),
        },
        StreamEvent::ReasoningEnd {
            signature: None,
            encrypted: Some(Signature {
                dialect: Dialect::OpenaiResponses,
                value: "ENC".into(),
            }),
            id: Some("rs_up".into()),
        },
        StreamEvent::TextDelta { text: "Hi".into() },
        StreamEvent::Stop {
            reason: StopReason::MaxTokens,
        },
    ]);
    assert_eq!(
        names(&evs),
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.incomplete",
        ]
    );
    let rs_id = evs[2].1["item"]["id"].as_str().unwrap().to_string();
    assert!(rs_id.starts_with("rs_"));
    assert_eq!(evs[2].1["item"]["type"], "reasoning");
    assert_eq!(evs[3].1["summary_index"], 0);
    assert_eq!(evs[3].1["item_id"], rs_id.as_str());
    assert_eq!(evs[6].1["text"], "Let me think");
    assert_eq!(evs[8].1["item"]["id"], rs_id.as_str());
    assert_eq!(evs[8].1["item"]["encrypted_content"], "ENC");
    assert_eq!(
        evs[8].1["item"]["summary"],
        json!([{"type": "summary_text", "text": "Let me think"}])
    );
    assert_eq!(evs[9].1["output_index"], 1);
    assert_eq!(evs[11].1["output_index"], 1);
    let end = &evs[15].1["response"];
    assert_eq!(end["status"], "incomplete");
    assert_eq!(
        end["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(end["output"].as_array().unwrap().len(), 2);
    insta::assert_json_snapshot!(
        "stream_reasoning_text",
        evs.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn stream_encoder_two_function_calls() {
    let evs = encode(&[
        start(),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_A".into(),
            name: "exec_command".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"cmd\":".into(),
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_B".into(),
            name: "read".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "\"ls\"}".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 1,
            arguments: "{}".into(),
        },
        StreamEvent::ToolCallEnd { index: 0 },
        StreamEvent::ToolCallEnd { index: 1 },
        usage(),
        StreamEvent::Stop {
            reason: StopReason::ToolUse,
        },
    ]);
    assert_eq!(
        names(&evs),
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let a = &evs[2].1;
    assert_eq!(a["output_index"], 0);
    assert_eq!(
        a["item"],
        json!({"type": "function_call", "id": a["item"]["id"], "status": "in_progress",
            "call_id": "call_A", "name": "exec_command", "arguments": ""})
    );
    let a_id = a["item"]["id"].as_str().unwrap();
    let b_id = evs[4].1["item"]["id"].as_str().unwrap();
    assert_ne!(a_id, b_id);
    assert!(a_id.starts_with("fc_"));
    assert_eq!(evs[4].1["output_index"], 1);
    assert_eq!(evs[5].1["item_id"], a_id);
    assert_eq!(evs[6].1["item_id"], b_id);
    assert_eq!(evs[6].1["output_index"], 1);
    assert_eq!(evs[7].1["arguments"], "{\"cmd\":\"ls\"}");
    assert_eq!(evs[7].1["name"], "exec_command");
    assert_eq!(evs[8].1["item"]["arguments"], "{\"cmd\":\"ls\"}");
    assert_eq!(evs[8].1["item"]["status"], "completed");
    let done = &evs[11].1["response"];
    assert_eq!(done["output"][0]["call_id"], "call_A");
    assert_eq!(done["output"][1]["call_id"], "call_B");
    assert_eq!(done["usage"]["total_tokens"], 15);
    insta::assert_json_snapshot!(
        "stream_two_calls",
        evs.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn stream_encoder_error_and_abrupt_end() {
    let evs = encode(&[
        start(),
        StreamEvent::TextDelta { text: "x".into() },
        StreamEvent::Error {
            error: ErrorInfo::new(ErrorKind::RateLimit, "slow down"),
        },
    ]);
    let last = evs.last().unwrap();
    assert_eq!(last.0, "response.failed");
    assert_eq!(last.1["response"]["status"], "failed");
    assert_eq!(last.1["response"]["error"]["message"], "slow down");
    assert_eq!(last.1["response"]["error"]["code"], "rate_limit_exceeded");
    // No Start and no Stop: still a complete, well-formed sequence.
    let evs = encode(&[StreamEvent::TextDelta { text: "y".into() }]);
    assert_eq!(evs.first().unwrap().0, "response.created");
    assert_eq!(evs.last().unwrap().0, "response.completed");
    assert_eq!(
        evs.last().unwrap().1["response"]["output"][0]["content"][0]["text"],
        "y"
    );
}

/// A recorded-style upstream Responses stream: reasoning, text, one function call.
fn upstream_stream() -> String {
    let events = [
        json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_up", "object": "response", "created_at": 1, "status": "in_progress", "model": "gpt-5", "output": []}}),
        json!({"type": "response.in_progress", "sequence_number": 1, "response": {"id": "resp_up", "object": "response", "created_at": 1, "status": "in_progress", "model": "gpt-5", "output": []}}),
        json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
        json!({"type": "response.reasoning_summary_part.added", "sequence_number": 3, "output_index": 0, "item_id": "rs_1", "summary_index": 0, "part": {"type": "summary_text", "text": ""}}),
        json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 4, "output_index": 0, "item_id": "rs_1", "summary_index": 0, "delta": "Plan"}),
        json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 5, "output_index": 0, "item_id": "rs_1", "summary_index": 1, "delta": "More"}),
        json!({"type": "response.output_item.done", "sequence_number": 6, "output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan"}, {"type": "summary_text", "text": "More"}], "encrypted_content": "ENC1"}}),
        json!({"type": "response.output_item.added", "sequence_number": 7, "output_index": 1, "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}}),
        json!({"type": "response.output_text.delta", "sequence_number": 8, "output_index": 1, "item_id": "msg_1", "content_index": 0, "delta": "Hé", "logprobs": []}),
        json!({"type": "response.output_text.delta", "sequence_number": 9, "output_index": 1, "item_id": "msg_1", "content_index": 0, "delta": "llo", "logprobs": []}),
        json!({"type": "response.output_item.done", "sequence_number": 10, "output_index": 1, "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "Héllo", "annotations": []}]}}),
        json!({"type": "response.output_item.added", "sequence_number": 11, "output_index": 2, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": "", "status": "in_progress"}}),
        json!({"type": "response.function_call_arguments.delta", "sequence_number": 12, "output_index": 2, "item_id": "fc_1", "delta": "{\"d\":"}),
        json!({"type": "response.function_call_arguments.delta", "sequence_number": 13, "output_index": 2, "item_id": "fc_1", "delta": "1}"}),
        json!({"type": "response.function_call_arguments.done", "sequence_number": 14, "output_index": 2, "item_id": "fc_1", "name": "ls", "arguments": "{\"d\":1}"}),
        json!({"type": "response.output_item.done", "sequence_number": 15, "output_index": 2, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "ls", "arguments": "{\"d\":1}", "status": "completed"}}),
        json!({"type": "response.completed", "sequence_number": 16, "response": {"id": "resp_up", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5", "output": [],
            "usage": {"input_tokens": 20, "input_tokens_details": {"cached_tokens": 8}, "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 29}}}),
    ];
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {}\n\n", e["type"].as_str().unwrap(), e))
        .collect()
}

fn decode_stream(d: Dialect, bytes: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut dec = codec::stream_decoder(d);
    let mut split = SseSplitter::new();
    let mut out = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.push(bytes.len());
    let mut last = 0;
    for b in bounds {
        split.push(&bytes[last..b]).unwrap();
        last = b;
        while let Some(ev) = split.next_event() {
            let e = SseEvent::parse(&ev);
            if let Some(data) = e.data {
                dec.push(e.event, &data, &mut out).unwrap();
            }
        }
    }
    dec.finish(&mut out);
    out
}

#[test]
fn stream_decoder_events() {
    let ev = decode_stream(Dialect::OpenaiResponses, upstream_stream().as_bytes(), &[]);
    assert_eq!(
        ev,
        vec![
            StreamEvent::Start {
                id: "resp_up".into(),
                model: "gpt-5".into()
            },
            StreamEvent::ReasoningDelta {
                text: "Plan".into()
            },
            StreamEvent::ReasoningDelta {
                text: "\n\n".into()
            },
            StreamEvent::ReasoningDelta {
                text: "More".into()
            },
            StreamEvent::ReasoningEnd {
                signature: None,
                encrypted: Some(Signature {
                    dialect: Dialect::OpenaiResponses,
                    value: "ENC1".into()
                }),
                id: Some("rs_1".into())
            },
            StreamEvent::TextDelta { text: "Hé".into() },
            StreamEvent::TextDelta { text: "llo".into() },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "ls".into(),
                signature: None
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"d\":".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "1}".into()
            },
            StreamEvent::ToolCallEnd { index: 0 },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: 20,
                    output_tokens: 9,
                    cache_read_tokens: 8,
                    cache_creation_tokens: 0,
                    reasoning_tokens: 4
                }
            },
            StreamEvent::Stop {
                reason: StopReason::ToolUse
            },
        ]
    );
    let data = r#"{"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":1,"total_tokens":4}}}"#;
    assert_eq!(
        responses::sniff_usage(Some("response.completed"), data).map(|u| u.total()),
        Some(4)
    );
    assert_eq!(
        responses::sniff_usage(Some("response.output_text.delta"), data),
        None
    );
}

#[test]
fn stream_decoder_errors_and_failed() {
    let mut d = responses::Decoder::new();
    let mut out = Vec::new();
    d.push(
        Some("error"),
        r#"{"type":"error","code":"rate_limit_exceeded","message":"slow","param":null,"sequence_number":1}"#,
        &mut out,
    )
    .unwrap();
    d.finish(&mut out);
    assert!(matches!(&out[0], StreamEvent::Error { error } if error.message == "slow"));
    assert_eq!(out.len(), 1);
    let mut d = responses::Decoder::new();
    let mut out = Vec::new();
    d.push(None, r#"{"type":"response.failed","response":{"id":"r","status":"failed","error":{"code":"server_error","message":"boom"}}}"#, &mut out).unwrap();
    assert!(
        matches!(out.last(), Some(StreamEvent::Error { error }) if error.message == "boom" && error.code.as_deref() == Some("server_error"))
    );
    assert!(
        d.push(None, "not json", &mut out).is_ok(),
        "ignored after the end"
    );
    let mut d = responses::Decoder::new();
    assert!(d.push(None, "not json", &mut out).is_err());
}

/// Transcoding: a Gemini upstream stream to a Responses client and a Responses upstream
/// stream to a Gemini client.
#[test]
fn transcode_gemini_to_responses_and_back() {
    let gemini_sse = concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"}}],\"responseId\":\"g1\",\"modelVersion\":\"gemini-2.5\"}\r\n\r\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"ls\",\"args\":{\"d\":1}}},{\"functionCall\":{\"name\":\"cat\",\"args\":{}}}],\"role\":\"model\"},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":3,\"totalTokenCount\":8}}\r\n\r\n",
    );
    let canonical = decode_stream(Dialect::Gemini, gemini_sse.as_bytes(), &[]);
    let evs = encode(&canonical);
    assert_eq!(
        names(&evs),
        vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let outputs: Vec<u64> = evs
        .iter()
        .filter(|(n, _)| n == "response.output_item.added")
        .map(|(_, d)| d["output_index"].as_u64().unwrap())
        .collect();
    assert_eq!(outputs, vec![0, 1, 2]);
    assert_eq!(evs[8].1["item"]["call_id"], "call_0");
    assert_eq!(evs[12].1["item"]["call_id"], "call_1");
    assert_eq!(evs[16].1["response"]["usage"]["total_tokens"], 8);

    // Responses upstream → Gemini client (JSON array framing).
    let canonical = decode_stream(Dialect::OpenaiResponses, upstream_stream().as_bytes(), &[]);
    let mut enc = codec::stream_encoder(Dialect::Gemini, &ResponseOptions::default());
    let mut out = Vec::new();
    for e in &canonical {
        enc.push(e, &mut out);
    }
    enc.finish(&mut out);
    let chunks: Vec<Value> = serde_json::from_slice(&out).expect("a JSON array");
    let texts: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(texts, vec!["Plan", "\n\n", "More", "Hé", "llo"]);
    let call = chunks
        .iter()
        .find_map(|c| c["candidates"][0]["content"]["parts"][0].get("functionCall"))
        .unwrap();
    assert_eq!(
        call,
        &json!({"id": "call_1", "name": "ls", "args": {"d": 1}})
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 20);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 5);
    assert_eq!(last["usageMetadata"]["thoughtsTokenCount"], 4);
    assert_eq!(last["usageMetadata"]["cachedContentTokenCount"], 8);
}

/// Gemini upstream → Codex: the function call's `thoughtSignature` travels in a sealed
/// reasoning item and comes back to Gemini on the next turn; an Anthropic thinking signature
/// does the same in `encrypted_content`. Neither is ever sent to an OpenAI upstream.
#[test]
fn foreign_signatures_round_trip_through_codex() {
    let gemini_sse = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"ls\",\"args\":{}},\"thoughtSignature\":\"FS\"}],\"role\":\"model\"},\"finishReason\":\"STOP\"}]}\r\n\r\n";
    let canonical = decode_stream(Dialect::Gemini, gemini_sse.as_bytes(), &[]);
    let evs = encode(&canonical);
    let done: Vec<&Value> = evs
        .iter()
        .filter(|(n, _)| n == "response.output_item.done")
        .map(|(_, d)| &d["item"])
        .collect();
    assert_eq!(done.len(), 2);
    assert_eq!(done[0]["type"], "reasoning");
    assert_eq!(done[0]["encrypted_content"], "mg1:gemini:FS");
    assert_eq!(done[0]["summary"], json!([]));
    assert_eq!(done[1]["type"], "function_call");
    assert_eq!(done[1]["call_id"], "call_0");

    // Codex's next request replays the items.
    let next = json!({"model": "m", "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
        done[0], done[1],
        {"type": "function_call_output", "call_id": "call_0", "output": "a b"},
        {"type": "reasoning", "id": "rs_x", "summary": [{"type": "summary_text", "text": "hm"}],
         "encrypted_content": "mg1:anthropic:SIG"}
    ]});
    assert!(responses::carries_sealed(
        &serde_json::to_vec(&next).unwrap()
    ));
    assert!(!responses::carries_sealed(&fixture_body()));
    let req = responses::decode_request(&serde_json::to_vec(&next).unwrap()).unwrap();
    assert!(
        matches!(&req.messages[1].content[0], Part::ToolCall { signature: Some(s), .. }
        if s.dialect == Dialect::Gemini && s.value == "FS")
    );
    assert!(
        matches!(&req.messages[3].content[0], Part::Reasoning { signature: Some(s), encrypted: None, text, .. }
        if s.dialect == Dialect::Anthropic && s.value == "SIG" && text == "hm")
    );
    let (g, _) = enc(Dialect::Gemini, &req);
    assert_eq!(g["contents"][1]["parts"][0]["thoughtSignature"], "FS");
    let (o, dropped) = enc(Dialect::OpenaiResponses, &req);
    assert!(!o.to_string().contains("mg1:"), "{o}");
    assert!(
        dropped
            .iter()
            .any(|d| d == "openai_responses.reasoning(foreign)")
    );

    // Whole responses seal the same way.
    let resp = Response {
        id: "x".into(),
        model: "m".into(),
        content: vec![
            Part::Reasoning {
                text: "t".into(),
                signature: Some(Signature {
                    dialect: Dialect::Anthropic,
                    value: "S2".into(),
                }),
                encrypted: None,
                id: None,
            },
            Part::ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: "{}".into(),
                signature: Some(Signature {
                    dialect: Dialect::Gemini,
                    value: "G2".into(),
                }),
            },
        ],
        stop_reason: StopReason::ToolUse,
        usage: None,
    };
    let v: Value = serde_json::from_slice(&responses::encode_response(
        &resp,
        &ResponseOptions::default(),
    ))
    .unwrap();
    let kinds: Vec<&str> = v["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["reasoning", "reasoning", "function_call"]);
    assert_eq!(v["output"][0]["encrypted_content"], "mg1:anthropic:S2");
    assert_eq!(v["output"][1]["encrypted_content"], "mg1:gemini:G2");
    let back = responses::decode_response(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(
        matches!(&back.content[0], Part::Reasoning { text, signature: Some(s), .. }
        if text == "t" && s.dialect == Dialect::Anthropic && s.value == "S2")
    );
    assert!(
        matches!(&back.content[1], Part::Reasoning { text, signature: Some(s), .. }
        if text.is_empty() && s.dialect == Dialect::Gemini && s.value == "G2")
    );
}

/// Claude (thinking, text, tool use) upstream → Codex, and chat with interleaved parallel
/// tool calls → Codex: item order, output indices, ids and the sealed thinking signature.
#[test]
fn transcode_anthropic_and_chat_to_responses() {
    let anthropic_sse = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hmm.\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"SIGA\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me look.\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"exec_command\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"cmd\\\":\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"ls\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":30}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let canonical = decode_stream(Dialect::Anthropic, anthropic_sse.as_bytes(), &[]);
    let evs = encode(&canonical);
    let done: Vec<&Value> = evs
        .iter()
        .filter(|(n, _)| n == "response.output_item.done")
        .map(|(_, d)| d)
        .collect();
    let kinds: Vec<&str> = done
        .iter()
        .map(|d| d["item"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["reasoning", "message", "function_call"]);
    let idx: Vec<u64> = done
        .iter()
        .map(|d| d["output_index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, vec![0, 1, 2]);
    assert_eq!(done[0]["item"]["encrypted_content"], "mg1:anthropic:SIGA");
    assert_eq!(done[0]["item"]["summary"][0]["text"], "Hmm.");
    assert_eq!(done[1]["item"]["content"][0]["text"], "Let me look.");
    assert_eq!(done[2]["item"]["call_id"], "toolu_1");
    assert_eq!(done[2]["item"]["arguments"], "{\"cmd\":\"ls\"}");
    let completed = &evs.last().unwrap().1["response"];
    assert_eq!(evs.last().unwrap().0, "response.completed");
    assert_eq!(completed["usage"]["input_tokens"], 17);
    assert_eq!(
        completed["usage"]["input_tokens_details"]["cached_tokens"],
        5
    );
    assert_eq!(completed["usage"]["output_tokens"], 30);
    assert_eq!(completed["output"].as_array().unwrap().len(), 3);

    let chat_sse = concat!(
        "data: {\"id\":\"c2\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{\\\"c\\\":\"}},{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"t\",\"arguments\":\"{\\\"z\\\":\"}}]}}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"2}\"}}]}}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n",
        "data: [DONE]\n\n",
    );
    let canonical = decode_stream(Dialect::OpenaiChat, chat_sse.as_bytes(), &[]);
    let evs = encode(&canonical);
    let mut by_item: std::collections::BTreeMap<String, String> = Default::default();
    let mut item_index: std::collections::BTreeMap<String, u64> = Default::default();
    for (n, d) in &evs {
        if n == "response.output_item.added" {
            item_index.insert(
                d["item"]["id"].as_str().unwrap().into(),
                d["output_index"].as_u64().unwrap(),
            );
        }
        if n == "response.function_call_arguments.delta" {
            let id = d["item_id"].as_str().unwrap();
            assert_eq!(item_index[id], d["output_index"].as_u64().unwrap());
            by_item
                .entry(id.into())
                .or_default()
                .push_str(d["delta"].as_str().unwrap());
        }
    }
    let args: Vec<&String> = by_item.values().collect();
    assert_eq!(args.len(), 2);
    let completed = &evs.last().unwrap().1["response"];
    assert_eq!(completed["output"][0]["call_id"], "call_a");
    assert_eq!(completed["output"][0]["arguments"], "{\"c\":2}");
    assert_eq!(completed["output"][1]["call_id"], "call_b");
    assert_eq!(completed["output"][1]["arguments"], "{\"z\":1}");
    assert_eq!(completed["usage"]["total_tokens"], 10);
}

#[test]
fn errors_use_the_openai_shape() {
    let body = responses::encode_error(&ErrorInfo::new(ErrorKind::NotFound, "no such model"));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["message"], "no such model");
    assert!(v["error"]["type"].is_string());
    let back = responses::decode_error(404, &body).unwrap();
    assert_eq!(back.kind, ErrorKind::NotFound);
    assert_eq!(back.message, "no such model");
}

fn arb_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\{}\\n\u{e9}\u{1F600}]{1,20}"
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = responses::decode_request(&bytes);
        let _ = responses::envelope(&bytes);
        let _ = responses::decode_response(&bytes);
        let _ = responses::decode_error(400, &bytes);
        let _ = responses::usage_of_response(&bytes);
        let s = String::from_utf8_lossy(&bytes);
        let _ = responses::sniff_usage(None, &s);
        let mut dec = responses::Decoder::new();
        let mut out = Vec::new();
        let _ = dec.push(None, &s, &mut out);
        dec.finish(&mut out);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let b = serde_json::to_vec(&v).unwrap();
        let _ = responses::decode_request(&b);
        let _ = responses::decode_response(&b);
        let wrapped = serde_json::to_vec(&json!({"input": [v.clone()], "output": [v.clone()], "tools": [v.clone()],
            "tool_choice": v.clone(), "reasoning": v.clone(), "text": {"format": v.clone()}})).unwrap();
        let _ = responses::decode_request(&wrapped);
        let _ = responses::decode_response(&wrapped);
        let mut dec = responses::Decoder::new();
        let mut out = Vec::new();
        for kind in ["response.output_item.added", "response.output_item.done", "response.completed",
                     "response.function_call_arguments.delta", "response.reasoning_summary_text.delta"] {
            let ev = json!({"type": kind, "item": v.clone(), "response": v.clone(), "output_index": 0, "delta": v.clone()});
            let _ = dec.push(None, &ev.to_string(), &mut out);
        }
        dec.finish(&mut out);
    }

    #[test]
    fn chunk_boundaries_do_not_matter(cuts in proptest::collection::vec(any::<usize>(), 0..10)) {
        let s = upstream_stream();
        let whole = decode_stream(Dialect::OpenaiResponses, s.as_bytes(), &[]);
        prop_assert_eq!(decode_stream(Dialect::OpenaiResponses, s.as_bytes(), &cuts), whole);
    }

    #[test]
    fn round_trip_keeps_text_tools_and_ids(text in arb_text(), name in "[a-z_]{1,10}",
        args in arb_text(), id in "call_[a-z0-9]{1,8}") {
        let req = Request {
            model: "m".into(),
            system: vec![Part::text(text.clone())],
            messages: vec![
                Message { role: Role::User, content: vec![Part::text(text.clone())] },
                Message { role: Role::Assistant, content: vec![Part::text(text.clone()), Part::ToolCall {
                    id: id.clone(), name: name.clone(), arguments: args.clone(), signature: None }] },
                Message { role: Role::User, content: vec![Part::ToolResult {
                    call_id: id.clone(), name: Some(name.clone()), content: vec![Part::text(text.clone())], is_error: false }] },
            ],
            ..Request::default()
        };
        let mut dropped = Vec::new();
        let body = responses::encode_request(&req, &EncodeOptions::default(), &mut dropped).unwrap();
        let back = responses::decode_request(&body).unwrap();
        prop_assert_eq!(&back.system, &req.system);
        prop_assert_eq!(&back.messages, &req.messages);
        // Stream round trip: canonical events → Responses SSE → canonical events.
        let events = vec![
            StreamEvent::Start { id: "resp_x".into(), model: "m".into() },
            StreamEvent::TextDelta { text: text.clone() },
            StreamEvent::ToolCallStart { index: 0, id: id.clone(), name: name.clone(), signature: None },
            StreamEvent::ToolCallDelta { index: 0, arguments: args.clone() },
            StreamEvent::ToolCallEnd { index: 0 },
            StreamEvent::Stop { reason: StopReason::ToolUse },
        ];
        let mut enc = codec::stream_encoder(Dialect::OpenaiResponses, &ResponseOptions::default());
        let mut out = Vec::new();
        for e in &events { enc.push(e, &mut out); }
        enc.finish(&mut out);
        let back = decode_stream(Dialect::OpenaiResponses, &out, &[]);
        let want: Vec<StreamEvent> = events.into_iter()
            .filter(|e| !matches!(e, StreamEvent::TextDelta { text } if text.is_empty()))
            .collect();
        prop_assert_eq!(back, want);
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        prop_oneof![
            Just("message".to_string()),
            Just("function_call".to_string()),
            Just("reasoning".to_string()),
            Just("input_image".to_string()),
            "[a-zA-Z_]{0,8}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("type".to_string()),
                    Just("role".to_string()),
                    Just("content".to_string()),
                    Just("call_id".to_string()),
                    Just("arguments".to_string()),
                    Just("summary".to_string()),
                    Just("output".to_string()),
                    Just("text".to_string()),
                    Just("usage".to_string()),
                    "[a-z_]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Responses reasoning replayed without its item id (e.g. unsealed from another client's
/// carrier) is dropped, since the API requires the id.
#[test]
fn encrypted_reasoning_without_id_is_dropped() {
    let reasoning = |id: Option<&str>| Part::Reasoning {
        text: String::new(),
        signature: None,
        encrypted: Some(Signature {
            dialect: Dialect::OpenaiResponses,
            value: "ENC".into(),
        }),
        id: id.map(str::to_string),
    };
    let req = Request {
        messages: vec![
            Message {
                role: Role::User,
                content: vec![Part::text("q")],
            },
            Message {
                role: Role::Assistant,
                content: vec![reasoning(None), reasoning(Some("rs_1")), Part::text("a")],
            },
        ],
        ..Request::default()
    };
    let (out, dropped) = enc(Dialect::OpenaiResponses, &req);
    let items = out["input"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[1],
        json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "ENC"})
    );
    assert!(
        dropped
            .iter()
            .any(|d| d == "openai_responses.reasoning(no id)")
    );
    assert_eq!(out["include"], json!(["reasoning.encrypted_content"]));
}
