// Ready-to-paste client configuration for a server's gateway URL.

export function clientConfigs(server, account) {
  const url = server.gateway_url;
  const name = `${account.slug}-${server.name}`;
  const token = "tgg_…your grant token…";
  return [
    {
      label: "Claude Code",
      where: "Run in a terminal:",
      text: `claude mcp add --transport http ${name} ${url} \\\n  --header "Authorization: Bearer ${token}"`,
    },
    {
      label: "Claude Desktop",
      where: "claude_desktop_config.json (through the mcp-remote bridge):",
      text: JSON.stringify({
        mcpServers: {
          [name]: {
            command: "npx",
            args: ["-y", "mcp-remote", url, "--header", "Authorization: Bearer ${TOOLGATE_TOKEN}"],
            env: { TOOLGATE_TOKEN: token },
          },
        },
      }, null, 2),
    },
    {
      label: "Cursor",
      where: ".cursor/mcp.json:",
      text: JSON.stringify({ mcpServers: { [name]: { url, headers: { Authorization: `Bearer ${token}` } } } }, null, 2),
    },
    {
      label: "VS Code",
      where: ".vscode/mcp.json (asks for the token once):",
      text: JSON.stringify({
        inputs: [{ type: "promptString", id: "toolgate-token", description: "Toolgate grant token", password: true }],
        servers: { [name]: { type: "http", url, headers: { Authorization: "Bearer ${input:toolgate-token}" } } },
      }, null, 2),
    },
    {
      label: "Python SDK",
      where: "With the official mcp package (2.x):",
      text: `import asyncio, httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

async def main():
    headers = {"Authorization": "Bearer ${token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as http:
        async with Client(streamable_http_client("${url}", http_client=http)) as client:
            tools = (await client.list_tools()).tools
            print([t.name for t in tools])

asyncio.run(main())`,
    },
    {
      label: "TypeScript SDK",
      where: "With @modelcontextprotocol/sdk:",
      text: `import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const transport = new StreamableHTTPClientTransport(new URL("${url}"), {
  requestInit: { headers: { Authorization: "Bearer ${token}" } },
});
const client = new Client({ name: "my-agent", version: "1.0.0" });
await client.connect(transport);
console.log((await client.listTools()).tools.map((t) => t.name));`,
    },
  ];
}
