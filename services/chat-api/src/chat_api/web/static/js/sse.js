// Server-sent events read from a fetch() body (EventSource cannot POST or send a token).

/**
 * Yields {event, data} for every event of a text/event-stream response body; `data` is the
 * joined data lines (JSON-decoded when it parses). Ends when the body ends.
 */
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = nextBoundary(buffer)) !== null) {
        const block = buffer.slice(0, end.at);
        buffer = buffer.slice(end.at + end.length);
        const parsed = parseBlock(block);
        if (parsed) yield parsed;
      }
    }
    const parsed = parseBlock(buffer);
    if (parsed) yield parsed;
  } finally {
    reader.releaseLock();
  }
}

function nextBoundary(text) {
  const match = /\r\n\r\n|\n\n|\r\r/.exec(text);
  return match ? { at: match.index, length: match[0].length } : null;
}

export function parseBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}
