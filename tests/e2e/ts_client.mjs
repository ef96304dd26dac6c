// Drives an MCP server with the official TypeScript SDK client and prints one
// JSON document with what happened, for the pytest suite to assert on.
//
// Usage: node ts_client.mjs '<plan JSON>'
// Plan: {"url": "...", "token": "..." | null,
//        "steps": [{"op": "list"} | {"op": "call", "name": "...", "arguments": {...}, "progress": bool,
//                    "default_timeout": bool} | {"op": "sleep", "ms": N}],
//        "terminate": bool}
// Output: {"connected": bool, "protocol_version", "session_id", "steps": [...],
//          "terminated": bool, "error"?: {...}}
// Each step is {"ok": result} or {"error": {"code", "message"}}, with "ms" (how
// long it took); a call with "progress" also gets "progress": [{progress,
// total, message}, ...]. "default_timeout" leaves the SDK's own request
// time-out (60 s) in place instead of setting one.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

function describe(err) {
  return {
    code: typeof err?.code === "number" ? err.code : null,
    message: String(err?.message ?? err),
    name: err?.name ?? null,
  };
}

const plan = JSON.parse(process.argv[2]);
const headers = plan.token ? { Authorization: `Bearer ${plan.token}` } : {};
const out = { connected: false, protocol_version: null, session_id: null, steps: [], terminated: false };

const client = new Client({ name: "toolgate-e2e-ts", version: "1.0.0" }, { capabilities: {} });
const transport = new StreamableHTTPClientTransport(new URL(plan.url), { requestInit: { headers } });

try {
  await client.connect(transport);
  out.connected = true;
  out.protocol_version = transport.protocolVersion ?? null;
  out.session_id = transport.sessionId ?? null;
  for (const step of plan.steps ?? []) {
    const started = Date.now();
    try {
      if (step.op === "sleep") {
        await new Promise((resolve) => setTimeout(resolve, step.ms));
        out.steps.push({ ok: null, ms: Date.now() - started });
      } else if (step.op === "list") {
        out.steps.push({ ok: await client.listTools() });
      } else if (step.op === "call") {
        const progress = [];
        const options = step.default_timeout ? {} : { timeout: 60000 };
        if (step.progress) {
          options.onprogress = (p) => progress.push(p);
        }
        const result = await client.callTool({ name: step.name, arguments: step.arguments ?? {} }, undefined, options);
        const ms = Date.now() - started;
        out.steps.push(step.progress ? { ok: result, progress, ms } : { ok: result, ms });
      } else {
        out.steps.push({ error: { code: null, message: `unknown op ${step.op}` } });
      }
    } catch (err) {
      out.steps.push({ error: describe(err), ms: Date.now() - started });
    }
  }
  if (plan.terminate) {
    await transport.terminateSession();
    out.terminated = true;
  }
} catch (err) {
  out.error = describe(err);
} finally {
  try {
    await client.close();
  } catch {
    // Closing after a failed connect may throw; the output already says why.
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
