// Drives one official OpenAI Node SDK major version against the endpoint and prints what it saw as JSON.
// Usage: node client_check.mjs <openai-v4|openai-v7> <baseURL> <apiKey> <scenario>
const [pkg, baseURL, apiKey, scenario] = process.argv.slice(2);
const { default: OpenAI } = await import(pkg);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30000 });
const messages = [{ role: "user", content: "hello from node" }];
const out = {};

async function attempt(fn) {
  try {
    return { ok: await fn() };
  } catch (err) {
    return { error: { name: err.constructor.name, status: err.status ?? null, message: String(err.message) } };
  }
}

if (scenario === "echo") {
  out.whole = await attempt(async () => {
    const c = await client.chat.completions.create({ model: "m", messages });
    return { content: c.choices[0].message.content, finish: c.choices[0].finish_reason, usage: c.usage };
  });
  out.stream = await attempt(async () => {
    let text = "";
    let finish = null;
    let usage = null;
    const stream = await client.chat.completions.create({
      model: "m", messages, stream: true, stream_options: { include_usage: true },
    });
    for await (const chunk of stream) {
      if (chunk.choices.length) {
        text += chunk.choices[0].delta.content ?? "";
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    return { content: text, finish, usage };
  });
  out.models = await attempt(async () => (await client.models.list()).data.map((m) => m.id));
} else if (scenario === "errors") {
  out.stream = await attempt(async () => {
    let text = "";
    for await (const chunk of await client.chat.completions.create({ model: "m", messages, stream: true })) {
      text += chunk.choices[0]?.delta?.content ?? "";
    }
    return text;
  });
  out.whole = await attempt(async () => (await client.chat.completions.create({ model: "m", messages })));
}
console.log(JSON.stringify(out));
