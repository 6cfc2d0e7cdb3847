//! Golden and behaviour tests of the Gemini codec: the captured Gemini CLI request decoded to
//! canonical and encoded to every dialect, hand-written multi-turn/tool/image/reasoning cases,
//! stop-reason and usage mappings, stream decode/encode (SSE and JSON array), errors, and
//! property tests (no panics, chunk boundaries, round trips).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use modelgate_formats::Dialect;
use modelgate_formats::canonical::{
    EncodeOptions, ErrorInfo, ErrorKind, ImageSource, Message, Part, Request, Response,
    ResponseOptions, Role, Signature, StopReason, StreamEvent, Tool, ToolChoice, Usage,
};
use modelgate_formats::codec;
use modelgate_formats::gemini;
use modelgate_formats::sse::{SseEvent, SseSplitter};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixture_body() -> Vec<u8> {
    let line = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/clients/gemini-cli-0.61.0.jsonl"
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
fn gemini_cli_fixture_decodes_and_converts() {
    let req = gemini::decode_request(&fixture_body()).expect("decode");
    assert_eq!(req.model, "");
    assert!(!req.stream);
    assert_eq!(req.messages.len(), 1);
    assert_eq!(req.tools.len(), 8);
    assert_eq!(req.temperature, Some(1.0));
    assert_eq!(req.top_k, Some(64));
    assert_eq!(
        req.reasoning.as_ref().and_then(|r| r.include_thoughts),
        Some(true)
    );
    assert!(req.dropped.is_empty(), "{:?}", req.dropped);
    insta::assert_json_snapshot!("gemini_cli_canonical", req);
    for d in Dialect::ALL {
        let (body, dropped) = enc(d, &req);
        insta::assert_json_snapshot!(
            format!("gemini_cli_to_{d}"),
            json!({"body": body, "dropped": dropped})
        );
    }
}

fn multi_turn() -> Request {
    Request {
        model: "m".into(),
        system: vec![Part::text("be brief")],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![
                    Part::text("what is in these?"),
                    Part::Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "iVBORw0KGgo=".into(),
                        },
                        detail: None,
                    },
                    Part::Image {
                        source: ImageSource::Url {
                            url: "https://example.com/cat.webp?x=1".into(),
                        },
                        detail: Some("high".into()),
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Reasoning {
                        text: "thinking".into(),
                        signature: Some(Signature {
                            dialect: Dialect::Gemini,
                            value: "sig-r".into(),
                        }),
                        encrypted: None,
                        id: None,
                    },
                    Part::Reasoning {
                        text: "foreign".into(),
                        signature: Some(Signature {
                            dialect: Dialect::Anthropic,
                            value: "x".into(),
                        }),
                        encrypted: None,
                        id: None,
                    },
                    Part::ToolCall {
                        id: "toolu_1".into(),
                        name: "look".into(),
                        arguments: r#"{"q":"cat"}"#.into(),
                        signature: Some(Signature {
                            dialect: Dialect::Gemini,
                            value: "sig-c".into(),
                        }),
                    },
                    Part::ToolCall {
                        id: "toolu_2".into(),
                        name: "look".into(),
                        arguments: "not json".into(),
                        signature: None,
                    },
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    Part::ToolResult {
                        call_id: "toolu_1".into(),
                        name: None,
                        content: vec![Part::text("a cat")],
                        is_error: false,
                    },
                    Part::ToolResult {
                        call_id: "toolu_2".into(),
                        name: None,
                        content: vec![Part::text("bad args")],
                        is_error: true,
                    },
                ],
            },
            Message {
                role: Role::System,
                content: vec![Part::text("now answer")],
            },
            Message {
                role: Role::User,
                content: vec![Part::text("so?")],
            },
        ],
        tools: vec![Tool {
            name: "look".into(),
            description: Some("looks".into()),
            parameters: json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"q": {"type": "string"}}, "additionalProperties": false}),
            strict: Some(true),
            cache_control: None,
        }],
        tool_choice: Some(ToolChoice::Tool {
            name: "look".into(),
        }),
        max_tokens: Some(100),
        stop: vec!["END".into()],
        ..Request::default()
    }
}

#[test]
fn multi_turn_tools_images_reasoning_encode() {
    let (body, dropped) = enc(Dialect::Gemini, &multi_turn());
    let c = &body["contents"];
    assert_eq!(c[0]["parts"][1]["inlineData"]["mimeType"], "image/png");
    assert_eq!(c[0]["parts"][2]["fileData"]["mimeType"], "image/webp");
    assert_eq!(c[1]["role"], "model");
    assert_eq!(c[1]["parts"][0]["thoughtSignature"], "sig-r");
    assert_eq!(c[1]["parts"][1]["functionCall"]["args"]["q"], "cat");
    assert_eq!(c[1]["parts"][1]["thoughtSignature"], "sig-c");
    assert_eq!(c[2]["parts"][0]["functionResponse"]["name"], "look");
    assert_eq!(
        c[2]["parts"][1]["functionResponse"]["response"]["error"],
        "bad args"
    );
    assert_eq!(c[3]["parts"][0]["text"], "now answer");
    assert_eq!(c[3]["parts"][1]["text"], "so?");
    let decl = &body["tools"][0]["functionDeclarations"][0];
    assert!(decl["parametersJsonSchema"].get("$schema").is_none());
    assert_eq!(
        body["toolConfig"]["functionCallingConfig"],
        json!({"mode": "ANY", "allowedFunctionNames": ["look"]})
    );
    assert!(dropped.contains(&"gemini.reasoning(unsigned)".to_string()));
    assert!(dropped.contains(&"system_mid_conversation".to_string()));
    assert!(
        dropped
            .iter()
            .any(|d| d.starts_with("gemini.functionCall.args"))
    );
    insta::assert_json_snapshot!(
        "multi_turn_to_gemini",
        json!({"body": body, "dropped": dropped})
    );
}

#[test]
fn decode_ids_names_thoughts_and_config() {
    let body = json!({
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}, {"fileData": {"fileUri": "gs://b/x.png", "mimeType": "image/png"}},
                {"inlineData": {"mimeType": "application/pdf", "data": "AA=="}}]},
            {"role": "model", "parts": [
                {"text": "hmm", "thought": true, "thoughtSignature": "S1"},
                {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S2"},
                {"functionCall": {"name": "f", "args": {"a": 2}}},
                {"functionCall": {"id": "own", "name": "g"}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "f", "response": {"output": "one"}}},
                {"functionResponse": {"id": "own", "name": "g", "response": {"x": 1}}},
                {"functionResponse": {"name": "f", "response": {"error": "boom"}}}]}
        ],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties":
            {"a": {"type": "INTEGER", "nullable": true}}, "propertyOrdering": ["a"]}}]}, {"googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT"},
            "thinkingConfig": {"thinkingBudget": 0}, "candidateCount": 1, "seed": 7},
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/1"
    });
    let req = gemini::decode_request(&serde_json::to_vec(&body).expect("json")).expect("decode");
    let calls: Vec<(&str, &str)> = req.messages[1]
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolCall { id, arguments, .. } => Some((id.as_str(), arguments.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            ("call_0", r#"{"a":1}"#),
            ("call_1", r#"{"a":2}"#),
            ("own", "{}")
        ]
    );
    let results: Vec<(&str, bool)> = req.messages[2]
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolResult {
                call_id, is_error, ..
            } => Some((call_id.as_str(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        vec![("call_0", false), ("own", false), ("call_1", true)]
    );
    assert_eq!(
        req.tools[0].parameters,
        json!({"type": "object", "properties": {"a": {"type": ["integer", "null"]}}})
    );
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
    assert!(req.reasoning.as_ref().is_some_and(|r| r.disabled));
    assert_eq!(req.seed, Some(7));
    assert!(matches!(
        &req.messages[1].content[0],
        Part::Reasoning { signature: Some(s), .. } if s.value == "S1" && s.dialect == Dialect::Gemini
    ));
    assert!(
        matches!(&req.messages[0].content[1], Part::Image { source: ImageSource::Url { url }, .. } if url == "gs://b/x.png")
    );
    for d in [
        "gemini.tools.googleSearch",
        "gemini.safetySettings",
        "gemini.cachedContent",
        "gemini.inlineData(application/pdf)",
    ] {
        assert!(
            req.dropped.iter().any(|x| x == d),
            "{d} in {:?}",
            req.dropped
        );
    }
    insta::assert_json_snapshot!("decoded_tools_thoughts", req);
}

#[test]
fn candidate_count_above_one_is_unsupported() {
    let body = br#"{"contents":[],"generationConfig":{"candidateCount":2}}"#;
    assert!(matches!(
        gemini::decode_request(body),
        Err(modelgate_formats::canonical::ConvertError::Unsupported(_))
    ));
    assert!(gemini::decode_request(b"[1,2]").is_err());
    let nulls = br#"{"contents":[{"role":"user","parts":null}],"tools":null}"#;
    assert_eq!(
        gemini::decode_request(nulls).expect("nulls").messages.len(),
        1
    );
    assert!(gemini::decode_request(br#"{"contents":[{"role":"tool","parts":[]}]}"#).is_err());
}

#[test]
fn reasoning_and_response_format_encode() {
    use modelgate_formats::canonical::{Effort, Reasoning, ResponseFormat};
    let mut req = Request {
        reasoning: Some(Reasoning {
            effort: Some(Effort::Medium),
            include_thoughts: Some(true),
            ..Reasoning::default()
        }),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "x".into(),
            schema: json!({"type": "object"}),
            strict: None,
        }),
        ..Request::default()
    };
    let (b, _) = enc(Dialect::Gemini, &req);
    assert_eq!(
        b["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingBudget": 8192})
    );
    assert_eq!(
        b["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(
        b["generationConfig"]["responseJsonSchema"],
        json!({"type": "object"})
    );
    req.reasoning = Some(Reasoning {
        disabled: true,
        ..Reasoning::default()
    });
    req.response_format = Some(ResponseFormat::JsonObject);
    let (b, _) = enc(Dialect::Gemini, &req);
    assert_eq!(b["generationConfig"]["thinkingConfig"]["thinkingBudget"], 0);
    assert!(b["generationConfig"].get("responseJsonSchema").is_none());
    let back = gemini::decode_request(&serde_json::to_vec(&b).expect("json")).expect("decode");
    assert_eq!(back.response_format, Some(ResponseFormat::JsonObject));
}

#[test]
fn finish_reasons_map() {
    let cases = [
        ("STOP", false, StopReason::EndTurn),
        ("STOP", true, StopReason::ToolUse),
        ("MAX_TOKENS", false, StopReason::MaxTokens),
        ("SAFETY", false, StopReason::ContentFilter),
        ("RECITATION", false, StopReason::ContentFilter),
        ("PROHIBITED_CONTENT", false, StopReason::ContentFilter),
        (
            "MALFORMED_FUNCTION_CALL",
            false,
            StopReason::Other("MALFORMED_FUNCTION_CALL".into()),
        ),
    ];
    for (reason, call, want) in cases {
        let parts = if call {
            json!([{"functionCall": {"name": "f", "args": {}}}])
        } else {
            json!([{"text": "x"}])
        };
        let body = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reason}]});
        let r = gemini::decode_response(&serde_json::to_vec(&body).expect("json")).expect("decode");
        assert_eq!(r.stop_reason, want, "{reason}");
    }
    let blocked = br#"{"promptFeedback":{"blockReason":"SAFETY"}}"#;
    assert_eq!(
        gemini::decode_response(blocked)
            .expect("decode")
            .stop_reason,
        StopReason::ContentFilter
    );
    for (reason, want) in [
        (StopReason::EndTurn, "STOP"),
        (StopReason::ToolUse, "STOP"),
        (StopReason::StopSequence, "STOP"),
        (StopReason::MaxTokens, "MAX_TOKENS"),
        (StopReason::ContentFilter, "SAFETY"),
        (StopReason::Other("RECITATION".into()), "RECITATION"),
        (StopReason::Other("pause_turn".into()), "OTHER"),
    ] {
        let resp = Response {
            id: "r".into(),
            model: "m".into(),
            content: vec![],
            stop_reason: reason,
            usage: None,
        };
        let v: Value =
            serde_json::from_slice(&gemini::encode_response(&resp, &ResponseOptions::default()))
                .expect("json");
        assert_eq!(v["candidates"][0]["finishReason"], want);
    }
}

#[test]
fn usage_maps_both_ways() {
    let body = br#"{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"finishReason":"STOP"}],
        "usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":20,"thoughtsTokenCount":30,
        "cachedContentTokenCount":40,"totalTokenCount":150},"modelVersion":"gemini-2.5-pro","responseId":"abc"}"#;
    let want = Usage {
        input_tokens: 100,
        output_tokens: 50,
        cache_read_tokens: 40,
        cache_creation_tokens: 0,
        reasoning_tokens: 30,
    };
    let r = gemini::decode_response(body).expect("decode");
    assert_eq!(r.usage, Some(want));
    assert_eq!(r.id, "abc");
    assert_eq!(r.model, "gemini-2.5-pro");
    assert_eq!(gemini::usage_of_response(body), Some(want));
    let s = std::str::from_utf8(body).expect("utf8");
    assert_eq!(gemini::sniff_usage(None, s), Some(want));
    assert_eq!(gemini::sniff_usage(None, r#"{"candidates":[]}"#), None);
    // Huge counts saturate instead of overflowing.
    let huge =
        br#"{"usageMetadata":{"promptTokenCount":18446744073709551615,"toolUsePromptTokenCount":5,
        "candidatesTokenCount":18446744073709551615,"thoughtsTokenCount":9}}"#;
    let u = gemini::usage_of_response(huge).expect("usage");
    assert_eq!(u.input_tokens, u64::MAX);
    let hr = Response {
        id: String::new(),
        model: String::new(),
        content: vec![],
        stop_reason: StopReason::EndTurn,
        usage: Some(u),
    };
    let hv: Value =
        serde_json::from_slice(&gemini::encode_response(&hr, &ResponseOptions::default()))
            .expect("json");
    assert_eq!(hv["usageMetadata"]["totalTokenCount"], u64::MAX);
    let out: Value = serde_json::from_slice(&gemini::encode_response(
        &r,
        &ResponseOptions {
            model: "client-model".into(),
            ..ResponseOptions::default()
        },
    ))
    .expect("json");
    assert_eq!(
        out["usageMetadata"],
        json!({"promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
            "cachedContentTokenCount": 40, "totalTokenCount": 150})
    );
    assert_eq!(out["modelVersion"], "client-model");
    assert_eq!(out["responseId"], "abc");
}

const UPSTREAM_SSE: &str = concat!(
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Let me think\",\"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 10,\"totalTokenCount\": 10},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"resp-1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hello\"}],\"role\": \"model\"},\"index\": 0}],\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"resp-1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" wörld\",\"thoughtSignature\": \"TS\"}],\"role\": \"model\"},\"index\": 0}],\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"resp-1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"ls\",\"args\": {\"dir\": \"/\"}},\"thoughtSignature\": \"FS\"},{\"functionCall\": {\"name\": \"cat\",\"args\": {\"f\": \"a\"}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 10,\"candidatesTokenCount\": 5,\"thoughtsTokenCount\": 3,\"totalTokenCount\": 18},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"resp-1\"}\r\n\r\n",
);

fn decode_stream(bytes: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut dec = codec::stream_decoder(Dialect::Gemini);
    let mut split = SseSplitter::new();
    let mut out = Vec::new();
    let mut last = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.push(bytes.len());
    for b in bounds {
        split.push(&bytes[last..b]).expect("push");
        last = b;
        while let Some(ev) = split.next_event() {
            let e = SseEvent::parse(&ev);
            if let Some(d) = e.data {
                dec.push(e.event, &d, &mut out).expect("decode");
            }
        }
    }
    dec.finish(&mut out);
    out
}

#[test]
fn stream_decodes_text_thoughts_signatures_and_calls() {
    let ev = decode_stream(UPSTREAM_SSE.as_bytes(), &[]);
    let gs = |v: &str| Signature {
        dialect: Dialect::Gemini,
        value: v.into(),
    };
    assert_eq!(
        ev,
        vec![
            StreamEvent::Start {
                id: "resp-1".into(),
                model: "gemini-2.5-flash".into()
            },
            StreamEvent::ReasoningDelta {
                text: "Let me think".into()
            },
            StreamEvent::TextDelta {
                text: "Hello".into()
            },
            StreamEvent::TextDelta {
                text: " wörld".into()
            },
            StreamEvent::TextSignature {
                signature: gs("TS")
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_0".into(),
                name: "ls".into(),
                signature: Some(gs("FS"))
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: r#"{"dir":"/"}"#.into()
            },
            StreamEvent::ToolCallEnd { index: 0 },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_1".into(),
                name: "cat".into(),
                signature: None
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                arguments: r#"{"f":"a"}"#.into()
            },
            StreamEvent::ToolCallEnd { index: 1 },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 8,
                    reasoning_tokens: 3,
                    ..Usage::default()
                }
            },
            StreamEvent::Stop {
                reason: StopReason::ToolUse
            },
        ]
    );
}

#[test]
fn stream_decoder_reports_error_chunks() {
    let mut dec = gemini::Decoder::new();
    let mut out = Vec::new();
    use modelgate_formats::canonical::StreamDecoder;
    dec.push(
        None,
        r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#,
        &mut out,
    )
    .expect("push");
    dec.finish(&mut out);
    assert_eq!(out.len(), 1);
    assert!(
        matches!(&out[0], StreamEvent::Error { error } if error.kind == ErrorKind::RateLimit && error.status == 429)
    );
}

fn encode_events(events: &[StreamEvent], sse: bool) -> String {
    let mut enc = codec::stream_encoder(
        Dialect::Gemini,
        &ResponseOptions {
            model: "client-model".into(),
            id: Some("gw-1".into()),
            sse,
            ..ResponseOptions::default()
        },
    );
    let mut out = Vec::new();
    for e in events {
        enc.push(e, &mut out);
    }
    enc.finish(&mut out);
    String::from_utf8(out).expect("utf8")
}

#[test]
fn stream_encoder_json_array_and_sse_framing() {
    let events = decode_stream(UPSTREAM_SSE.as_bytes(), &[]);
    let array = encode_events(&events, false);
    assert!(array.starts_with("[{"), "{array}");
    assert!(array.ends_with("}\n]"), "{array}");
    assert!(array.contains("}\n,{"));
    let chunks: Vec<Value> = serde_json::from_str(&array).expect("a JSON array");
    assert_eq!(chunks.len(), 7, "{array}");
    let last = chunks.last().expect("last");
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 5);
    assert_eq!(last["usageMetadata"]["thoughtsTokenCount"], 3);
    assert_eq!(
        chunks[0]["candidates"][0]["content"]["parts"][0]["thought"],
        true
    );
    assert_eq!(chunks[0]["responseId"], "gw-1");
    assert_eq!(chunks[0]["modelVersion"], "client-model");
    assert_eq!(
        chunks[4]["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"id": "call_0", "name": "ls", "args": {"dir": "/"}})
    );
    assert_eq!(
        chunks[4]["candidates"][0]["content"]["parts"][0]["thoughtSignature"],
        "FS"
    );
    let sse = encode_events(&events, true);
    assert!(sse.starts_with("data: {"));
    assert!(sse.ends_with("}\r\n\r\n"));
    // The SSE output decodes back to the same canonical events (ids and signatures kept).
    let again = decode_stream(sse.as_bytes(), &[]);
    let strip = |v: &[StreamEvent]| -> Vec<StreamEvent> {
        v.iter()
            .filter(|e| !matches!(e, StreamEvent::Start { .. }))
            .cloned()
            .collect()
    };
    assert_eq!(strip(&again), strip(&events));
    // The JSON-array framing, fed to the decoder as one value, decodes the same.
    let mut dec = gemini::Decoder::new();
    let mut from_array = Vec::new();
    {
        use modelgate_formats::canonical::StreamDecoder;
        dec.push(None, &array, &mut from_array).expect("array");
        dec.finish(&mut from_array);
    }
    assert_eq!(strip(&from_array), strip(&events));
    assert_eq!(
        encode_events(&[], false),
        "[{\"candidates\":[{\"finishReason\":\"STOP\",\"index\":0}],\"modelVersion\":\"client-model\",\"responseId\":\"gw-1\"}\n]"
    );
}

#[test]
fn stream_encoder_writes_errors_and_closes_array() {
    let out = encode_events(
        &[
            StreamEvent::TextDelta { text: "a".into() },
            StreamEvent::Error {
                error: ErrorInfo::new(ErrorKind::Overloaded, "busy"),
            },
        ],
        false,
    );
    let v: Vec<Value> = serde_json::from_str(&out).expect("array");
    assert_eq!(
        v[1],
        json!({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    );
}

#[test]
fn errors_map_statuses() {
    for (kind, status, code) in [
        (ErrorKind::InvalidRequest, "INVALID_ARGUMENT", 400),
        (ErrorKind::Authentication, "UNAUTHENTICATED", 401),
        (ErrorKind::Permission, "PERMISSION_DENIED", 403),
        (ErrorKind::NotFound, "NOT_FOUND", 404),
        (ErrorKind::RateLimit, "RESOURCE_EXHAUSTED", 429),
        (ErrorKind::Api, "INTERNAL", 500),
        (ErrorKind::Overloaded, "UNAVAILABLE", 503),
        (ErrorKind::Timeout, "DEADLINE_EXCEEDED", 504),
        (ErrorKind::PaymentRequired, "FAILED_PRECONDITION", 400),
    ] {
        let body = gemini::encode_error(&ErrorInfo::new(kind, "billing: m"));
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"]["status"], status);
        assert_eq!(v["error"]["code"], code);
        let back = gemini::decode_error(code, &body).expect("decodes");
        assert_eq!(back.kind, kind, "{status}");
    }
    let billing = br#"{"error":{"code":400,"message":"Billing account not found","status":"FAILED_PRECONDITION"}}"#;
    assert_eq!(
        gemini::decode_error(400, billing).map(|e| e.kind),
        Some(ErrorKind::PaymentRequired)
    );
    let wrapped = br#"[{"error":{"code":404,"message":"no","status":"NOT_FOUND"}}]"#;
    assert_eq!(
        gemini::decode_error(404, wrapped).map(|e| e.kind),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(gemini::decode_error(400, br#"{"message":"x"}"#), None);
}

fn arb_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 \"\\\\{}\\n\u{e9}\u{1F600}]{0,20}"
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = gemini::decode_request(&bytes);
        let _ = gemini::decode_response(&bytes);
        let _ = gemini::decode_error(400, &bytes);
        let _ = gemini::usage_of_response(&bytes);
        let mut dec = gemini::Decoder::new();
        let mut out = Vec::new();
        use modelgate_formats::canonical::StreamDecoder;
        let _ = dec.push(None, &String::from_utf8_lossy(&bytes), &mut out);
        dec.finish(&mut out);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let b = serde_json::to_vec(&v).expect("json");
        let _ = gemini::decode_request(&b);
        let _ = gemini::decode_response(&b);
        let wrapped = serde_json::to_vec(&json!({"contents": [{"role": "model", "parts": [v.clone()]}],
            "candidates": [{"content": {"parts": [v.clone()]}}], "generationConfig": v})).expect("json");
        let _ = gemini::decode_request(&wrapped);
        let _ = gemini::decode_response(&wrapped);
    }

    #[test]
    fn chunk_boundaries_do_not_matter(cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let whole = decode_stream(UPSTREAM_SSE.as_bytes(), &[]);
        prop_assert_eq!(decode_stream(UPSTREAM_SSE.as_bytes(), &cuts), whole);
    }

    #[test]
    fn round_trip_keeps_text_tools_and_ids(text in arb_text(), name in "[a-z_]{1,10}",
        arg in arb_text(), id in "[a-z0-9_]{1,8}") {
        let args = serde_json::to_string(&json!({"v": arg})).expect("json");
        let req = Request {
            system: vec![Part::text(text.clone())],
            messages: vec![
                Message { role: Role::User, content: vec![Part::text(text.clone())] },
                Message { role: Role::Assistant, content: vec![Part::ToolCall {
                    id: id.clone(), name: name.clone(), arguments: args.clone(), signature: None }] },
                Message { role: Role::User, content: vec![Part::ToolResult {
                    call_id: id.clone(), name: None, content: vec![Part::text(text.clone())], is_error: false }] },
            ],
            ..Request::default()
        };
        let mut dropped = Vec::new();
        let body = gemini::encode_request(&req, &EncodeOptions::default(), &mut dropped).expect("encode");
        let back = gemini::decode_request(&body).expect("decode");
        prop_assert_eq!(&back.system, &req.system);
        prop_assert_eq!(&back.messages[0], &req.messages[0]);
        match (&back.messages[1].content[0], &back.messages[2].content[0]) {
            (Part::ToolCall { id: cid, name: n, arguments: a, .. },
             Part::ToolResult { call_id, name: rn, content, .. }) => {
                prop_assert_eq!(n, &name);
                prop_assert_eq!(serde_json::from_str::<Value>(a).expect("json"),
                    serde_json::from_str::<Value>(&args).expect("json"));
                // Gemini carries no ids upstream: the decoder pairs call and result again.
                prop_assert_eq!(call_id, cid);
                prop_assert_eq!(rn.as_deref(), Some(name.as_str()));
                prop_assert_eq!(content, &vec![Part::text(text.clone())]);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        // Whole responses keep ids (Gemini clients see them).
        let resp = Response { id: "r".into(), model: "m".into(), content: vec![Part::text(text.clone()),
            Part::ToolCall { id: id.clone(), name: name.clone(), arguments: args.clone(), signature: None }],
            stop_reason: StopReason::ToolUse, usage: None };
        let back = gemini::decode_response(&gemini::encode_response(&resp, &ResponseOptions::default())).expect("decode");
        prop_assert_eq!(back.content, resp.content);
        prop_assert_eq!(back.stop_reason, StopReason::ToolUse);
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("text".to_string()),
            Just("functionCall".to_string()),
            Just("thought".to_string()),
            "[a-zA-Z]{0,8}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("contents".to_string()),
                    Just("parts".to_string()),
                    Just("role".to_string()),
                    Just("text".to_string()),
                    Just("functionCall".to_string()),
                    Just("functionResponse".to_string()),
                    Just("args".to_string()),
                    Just("name".to_string()),
                    Just("candidates".to_string()),
                    Just("usageMetadata".to_string()),
                    Just("thinkingConfig".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Chat upstream (text, then two interleaved parallel tool calls) → a Gemini SSE client: text
/// chunks in order, each call whole in its own chunk with its id, usage in the last chunk.
#[test]
fn transcode_chat_to_gemini_sse() {
    let chat_sse = concat!(
        "data: {\"id\":\"c2\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"On it\"}}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"{\\\"c\\\":\"}},{\"index\":1,\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"t\",\"arguments\":\"{\\\"z\\\":\"}}]}}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"2}\"}}]}}]}\n\n",
        "data: {\"id\":\"c2\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n",
        "data: [DONE]\n\n",
    );
    let mut dec = codec::stream_decoder(Dialect::OpenaiChat);
    let mut split = SseSplitter::new();
    split.push(chat_sse.as_bytes()).expect("push");
    let mut events = Vec::new();
    while let Some(b) = split.next_event() {
        let e = SseEvent::parse(&b);
        if let Some(d) = e.data {
            dec.push(e.event, &d, &mut events).expect("decode");
        }
    }
    dec.finish(&mut events);
    let out = encode_events(&events, true);
    let mut split = SseSplitter::new();
    split.push(out.as_bytes()).expect("push");
    let mut chunks = Vec::new();
    while let Some(b) = split.next_event() {
        let e = SseEvent::parse(&b);
        let v: Value = serde_json::from_str(&e.data.expect("data")).expect("json");
        chunks.push(v);
    }
    let parts: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"].get(0))
        .collect();
    assert_eq!(parts[0]["text"], "On it");
    let calls: Vec<&Value> = parts.iter().filter_map(|p| p.get("functionCall")).collect();
    assert_eq!(
        calls,
        vec![
            &json!({"id": "call_a", "name": "w", "args": {"c": 2}}),
            &json!({"id": "call_b", "name": "t", "args": {"z": 1}})
        ]
    );
    let last = chunks.last().expect("last");
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 7);
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 10);
}
