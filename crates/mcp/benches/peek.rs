//! Peek at a typical `tools/call` body: the per-call cost the proxy pays
//! before deciding policy.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use toolgate_mcp::headers::{check_post, McpHeaders};
use toolgate_mcp::peek;

const TOOLS_CALL: &str = r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"start_dicom_import_job","arguments":{"study_uid":"1.2.840.113619.2.55.3.604688119.868.1249311424.314","source":"pacs-east","priority":"normal","notify":["radiology@example.com"],"options":{"anonymize":true,"compress":false}},"_meta":{"progressToken":"b7f1c2d0-1e5a-4c1b-9a57-3f8f0a1e2d44","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;

fn peek_tools_call(c: &mut Criterion) {
    let body = TOOLS_CALL.as_bytes();
    let mut group = c.benchmark_group("peek");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("tools_call", |b| {
        b.iter(|| {
            let parsed = peek(black_box(body)).ok();
            let message = parsed.as_ref().and_then(|body| body.messages().first());
            black_box(
                message
                    .and_then(|m| m.tool_call())
                    .map(|call| call.name().len()),
            )
        })
    });
    let headers = McpHeaders {
        protocol_version: Some("2026-07-28"),
        method: Some("tools/call"),
        name: Some("start_dicom_import_job"),
    };
    group.bench_function("tools_call_and_headers", |b| {
        b.iter(|| {
            let parsed = peek(black_box(body)).ok();
            black_box(
                parsed
                    .as_ref()
                    .map(|body| check_post(&headers, body).is_ok()),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, peek_tools_call);
criterion_main!(benches);
