//! `count_tokens` when no upstream of the model can count (Anthropic `messages/count_tokens`,
//! Gemini `:countTokens` on an upstream of another dialect): a local count with a real
//! tokenizer over the request's text, tools and tool results, answered in the client's shape
//! and marked `x-modelgate-token-estimate: true`.

use bytes::Bytes;
use modelgate_formats::canonical::{Message, Part, Request};
use modelgate_formats::{Dialect, codec};

use crate::call::Call;
use crate::error::GatewayError;
use crate::reply::Reply;
use crate::tokens;

/// Tokens added per message and per tool for their framing (role markers, schema wrappers).
const PER_MESSAGE: u64 = 4;
const PER_TOOL: u64 = 8;

/// The local estimate for a count call.
pub fn estimate(call: &Call) -> Result<Reply, GatewayError> {
    let req = codec::decode_request(call.request_dialect, &call.raw)
        .map_err(|e| GatewayError::bad_request(e.to_string(), None))?;
    let n = count_request(&req);
    let body = match call.reply_dialect {
        Dialect::Gemini => serde_json::json!({"totalTokens": n}),
        _ => serde_json::json!({"input_tokens": n}),
    };
    Ok(
        Reply::json(200, Bytes::from(body.to_string()))
            .header("x-modelgate-token-estimate", "true"),
    )
}

fn count_parts(parts: &[Part], text: &mut String) -> u64 {
    let mut extra = 0;
    for p in parts {
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::Reasoning { text: t, .. } => text.push_str(t),
            Part::ToolCall {
                name, arguments, ..
            } => {
                text.push_str(name);
                text.push('\n');
                text.push_str(arguments);
            }
            Part::ToolResult { content, .. } => extra += count_parts(content, text),
            // Images are counted at a flat rate (providers price them by size; this is an estimate).
            Part::Image { .. } => extra += 85,
        }
        text.push('\n');
    }
    extra
}

/// The estimated input tokens of a request.
pub fn count_request(req: &Request) -> u64 {
    let mut text = String::new();
    let mut extra = count_parts(&req.system, &mut text);
    for Message { content, .. } in &req.messages {
        extra += PER_MESSAGE + count_parts(content, &mut text);
    }
    for t in &req.tools {
        extra += PER_TOOL;
        text.push_str(&t.name);
        text.push('\n');
        if let Some(d) = &t.description {
            text.push_str(d);
            text.push('\n');
        }
        text.push_str(&t.parameters.to_string());
        text.push('\n');
    }
    tokens::count(&text) + extra
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_text_tools_and_results() {
        let body = br#"{"model":"m","max_tokens":5,"system":"You are terse.","messages":[
            {"role":"user","content":"What is the weather in Paris?"},
            {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"weather","input":{"city":"Paris"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny, 21C"}]}],
            "tools":[{"name":"weather","description":"Weather of a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]}"#;
        let req = codec::decode_request(Dialect::Anthropic, body).unwrap();
        let n = count_request(&req);
        assert!((40..120).contains(&n), "{n}");
        let short = codec::decode_request(
            Dialect::Anthropic,
            br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert!(count_request(&short) < n);
    }
}
