// An upstream MCP server with the fixtures the official conformance suite's
// server scenarios expect (tools `test_*`, resources `test://…`, prompts
// `test_*`), built the way TypeScript-SDK servers are deployed: the SDK's
// Web-standard Streamable HTTP transport in a Hono app, served by
// `@hono/node-server`'s `serve`. Which major of @hono/node-server runs
// underneath is the point: 1.x labels the SDK's bodiless answers
// `text/plain`, 2.x does not.
//
//   node conformance_upstream.mjs --hono 1|2 [--port N]
//
// Binds 127.0.0.1 (port 0: a free one) and prints {"port": N} once listening.
// Legacy era (the SDK's 1.x line): sessionful, with an event store so that
// SSE polling (SEP-1699) can resume; Host is checked against loopback names,
// as local SDK servers do against DNS rebinding.

import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { Hono } from 'hono';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ErrorCode,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

const { values: args } = parseArgs({ options: { hono: { type: 'string', default: '2' }, port: { type: 'string', default: '0' } } });
const { serve } = await import(args.hono === '1' ? 'hono-node-1' : 'hono-node-2');

// A 1×1 PNG and a minimal WAV, base64.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

const NO_ARGS = { type: 'object', properties: {} };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (value) => ({ type: 'text', text: value });

// ---- tools: name → { description, inputSchema, run(args, extra, session) } ----

async function elicit(extra, message, requestedSchema) {
  try {
    const result = await extra.sendRequest(
      { method: 'elicitation/create', params: { message, requestedSchema } },
      ElicitResultSchema,
    );
    return { content: [text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)] };
  } catch (error) {
    return { content: [text(`Elicitation not supported or error: ${error.message}`)] };
  }
}

const TOOLS = {
  test_simple_text: {
    description: 'Returns one text block',
    run: async () => ({ content: [text('This is a simple text response for testing.')] }),
  },
  test_image_content: {
    description: 'Returns one image block',
    run: async () => ({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] }),
  },
  test_audio_content: {
    description: 'Returns one audio block',
    run: async () => ({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] }),
  },
  test_embedded_resource: {
    description: 'Returns an embedded resource',
    run: async () => ({
      content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }],
    }),
  },
  test_multiple_content_types: {
    description: 'Returns text, an image and a resource',
    run: async () => ({
      content: [
        text('Multiple content types test:'),
        { type: 'image', data: PNG, mimeType: 'image/png' },
        { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
      ],
    }),
  },
  test_tool_with_logging: {
    description: 'Logs three messages while it runs',
    run: async (_args, extra) => {
      for (const data of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data } });
        await sleep(20);
      }
      return { content: [text('Tool with logging executed successfully')] };
    },
  },
  test_tool_with_progress: {
    description: 'Reports progress 0, 50, 100',
    run: async (_args, extra) => {
      const progressToken = extra._meta?.progressToken ?? 0;
      for (const progress of [0, 50, 100]) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
        });
        await sleep(20);
      }
      return { content: [text(String(progressToken))] };
    },
  },
  test_error_handling: {
    description: 'Always fails',
    run: async () => ({ isError: true, content: [text('This tool intentionally returns an error for testing')] }),
  },
  test_reconnection: {
    description: 'Closes its SSE stream mid-call; the answer arrives after the client resumes (SEP-1699)',
    run: async (_args, extra, session) => {
      session.transport.closeSSEStream(extra.requestId);
      await sleep(100);
      return { content: [text('Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.')] };
    },
  },
  test_sampling: {
    description: 'Asks the client for an LLM completion',
    inputSchema: { type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'] },
    run: async (args, extra) => {
      try {
        const result = await extra.sendRequest(
          { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: text(args.prompt) }], maxTokens: 100 } },
          CreateMessageResultSchema,
        );
        return { content: [text(`LLM response: ${result.content?.text ?? 'No response'}`)] };
      } catch (error) {
        return { content: [text(`Sampling not supported or error: ${error.message}`)] };
      }
    },
  },
  test_elicitation: {
    description: 'Asks the user for input',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
    run: (args, extra) => elicit(extra, args.message, {
      type: 'object',
      properties: { response: { type: 'string', description: "User's response" } },
      required: ['response'],
    }),
  },
  test_elicitation_sep1034_defaults: {
    description: 'Elicits a form whose fields have defaults (SEP-1034)',
    run: (_args, extra) => elicit(extra, 'Please review and update the form fields with defaults', {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'User name', default: 'John Doe' },
        age: { type: 'integer', description: 'User age', default: 30 },
        score: { type: 'number', description: 'User score', default: 95.5 },
        status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
        verified: { type: 'boolean', description: 'Verification status', default: true },
      },
      required: [],
    }),
  },
  test_elicitation_sep1330_enums: {
    description: 'Elicits every enum form (SEP-1330)',
    run: (_args, extra) => elicit(extra, 'Please select options from the enum fields', {
      type: 'object',
      properties: {
        untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
        titledSingle: {
          type: 'string', description: 'Select one option with titles',
          oneOf: [{ const: 'value1', title: 'First Option' }, { const: 'value2', title: 'Second Option' }, { const: 'value3', title: 'Third Option' }],
        },
        legacyEnum: {
          type: 'string', description: 'Select one option (legacy)',
          enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'],
        },
        untitledMulti: {
          type: 'array', description: 'Select multiple options', minItems: 1, maxItems: 3,
          items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
        },
        titledMulti: {
          type: 'array', description: 'Select multiple options with titles', minItems: 1, maxItems: 3,
          items: { anyOf: [{ const: 'value1', title: 'First Choice' }, { const: 'value2', title: 'Second Choice' }, { const: 'value3', title: 'Third Choice' }] },
        },
      },
      required: [],
    }),
  },
  json_schema_2020_12_tool: {
    description: 'Declares a JSON Schema 2020-12 input schema (SEP-1613)',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: {
        address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } },
      },
      properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' },
        contactMethod: { type: 'string', enum: ['phone', 'email'] },
        phone: { type: 'string' },
        email: { type: 'string' },
      },
      allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
      if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
      then: { required: ['phone'] },
      else: { required: ['email'] },
      additionalProperties: false,
    },
    run: async (args) => ({ content: [text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`)] }),
  },
};

// ---- resources and prompts ----

const RESOURCES = [
  { uri: 'test://static-text', name: 'static-text', mimeType: 'text/plain', text: 'This is the content of the static text resource.' },
  { uri: 'test://static-binary', name: 'static-binary', mimeType: 'image/png', blob: PNG },
  { uri: 'test://watched-resource', name: 'watched-resource', mimeType: 'text/plain', text: 'Watched resource content' },
];
const TEMPLATE = /^test:\/\/template\/([^/]+)\/data$/;

const PROMPTS = {
  test_simple_prompt: {
    description: 'A prompt without arguments',
    get: () => [{ role: 'user', content: text('This is a simple prompt for testing.') }],
  },
  test_prompt_with_arguments: {
    description: 'A prompt with two required arguments',
    arguments: [{ name: 'arg1', description: 'First test argument', required: true }, { name: 'arg2', description: 'Second test argument', required: true }],
    get: (a) => [{ role: 'user', content: text(`Prompt with arguments: arg1='${a.arg1}', arg2='${a.arg2}'`) }],
  },
  test_prompt_with_embedded_resource: {
    description: 'A prompt that embeds a resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
    get: (a) => [
      { role: 'user', content: { type: 'resource', resource: { uri: a.resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
      { role: 'user', content: text('Please process the embedded resource above.') },
    ],
  },
  test_prompt_with_image: {
    description: 'A prompt with an image',
    get: () => [
      { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
      { role: 'user', content: text('Please analyze the image above.') },
    ],
  },
};

// ---- one SDK server per session ----

function createServer(session) {
  const server = new Server(
    { name: 'toolgate-conformance-upstream', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const log = (data) => server.sendLoggingMessage({ level: 'info', logger: 'conformance-upstream', data }).catch(() => {});

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: Object.entries(TOOLS).map(([name, tool]) => ({ name, description: tool.description, inputSchema: tool.inputSchema ?? NO_ARGS })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = TOOLS[request.params.name];
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    return tool.run(request.params.arguments ?? {}, extra, session);
  });

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({
    resources: RESOURCES.map(({ uri, name, mimeType }) => ({ uri, name, mimeType })),
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [{ uriTemplate: 'test://template/{id}/data', name: 'template', mimeType: 'application/json' }],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const { uri } = request.params;
    const resource = RESOURCES.find((r) => r.uri === uri);
    if (resource) {
      const { name: _name, ...content } = resource;
      return { contents: [content] };
    }
    const id = TEMPLATE.exec(uri)?.[1];
    if (id !== undefined) {
      const body = JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` });
      return { contents: [{ uri, mimeType: 'application/json', text: body }] };
    }
    throw new McpError(-32002, `Resource not found: ${uri}`);
  });
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    log(`Subscribed to resource: ${request.params.uri}`);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    log(`Unsubscribed from resource: ${request.params.uri}`);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({
    prompts: Object.entries(PROMPTS).map(([name, p]) => ({ name, description: p.description, arguments: p.arguments })),
  }));
  server.setRequestHandler(GetPromptRequestSchema, async (request) => {
    const prompt = PROMPTS[request.params.name];
    if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${request.params.name}`);
    return { messages: prompt.get(request.params.arguments ?? {}) };
  });

  server.setRequestHandler(SetLevelRequestSchema, async (request) => {
    log(`Log level set to: ${request.params.level}`);
    return {};
  });
  server.setRequestHandler(CompleteRequestSchema, async () => ({ completion: { values: [], total: 0, hasMore: false } }));
  return server;
}

// Events kept for resumption, per stream; ids sort in the order they were made.
function createEventStore() {
  const events = new Map();
  let counter = 0;
  return {
    async storeEvent(streamId, message) {
      const eventId = `${streamId}::${String(++counter).padStart(10, '0')}`;
      events.set(eventId, { streamId, message });
      return eventId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const streamId = lastEventId.split('::')[0];
      for (const [eventId, event] of events) {
        if (event.streamId === streamId && eventId > lastEventId && Object.keys(event.message).length > 0) {
          await send(eventId, event.message);
        }
      }
      return streamId;
    },
  };
}

const sessions = new Map();

function jsonError(status, code, message) {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status });
}

async function handle(request) {
  const sessionId = request.headers.get('mcp-session-id');
  if (sessionId) {
    const session = sessions.get(sessionId);
    if (!session) return jsonError(404, -32001, 'Session not found');
    return session.transport.handleRequest(request);
  }
  if (request.method !== 'POST') return jsonError(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
  let body;
  try {
    body = await request.json();
  } catch {
    return jsonError(400, -32700, 'Parse error');
  }
  if (body?.method !== 'initialize') return jsonError(400, -32000, 'Bad Request: Mcp-Session-Id header is required');
  const session = {};
  session.transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    eventStore: createEventStore(),
    retryInterval: 500,
    onsessioninitialized: (id) => sessions.set(id, session),
    onsessionclosed: (id) => sessions.delete(id),
  });
  session.server = createServer(session);
  await session.server.connect(session.transport);
  return session.transport.handleRequest(request, { parsedBody: body });
}

const app = new Hono();
// Local servers refuse foreign Host names (DNS rebinding), as the SDK's
// localhost helpers do.
app.use('*', async (c, next) => {
  const host = (c.req.header('host') ?? '').replace(/:\d+$/, '');
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    return jsonError(403, -32000, `Forbidden: invalid Host header ${host}`);
  }
  return next();
});
app.all('/mcp', (c) => handle(c.req.raw));

serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(args.port) }, (info) => {
  console.log(JSON.stringify({ port: info.port, hono: args.hono }));
});
