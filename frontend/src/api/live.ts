// Server-Sent Events over `fetch`: the browser's EventSource cannot send an
// Authorization header, so the stream is read here and parsed with
// eventsource-parser. Reconnects after a drop (resuming with
// `Last-Event-ID`) until the server sends `end` or the caller stops.

import { createParser, type EventSourceMessage } from "eventsource-parser";
import { authedFetch } from "./client";

export interface LiveEvent {
  event: string;
  data: unknown;
  id?: string;
}

/** Follows `path`'s stream; returns the function that stops it. */
export function follow(path: string, onEvent: (e: LiveEvent) => void): () => void {
  const abort = new AbortController();
  let lastId: string | undefined;
  let ended = false;

  const run = async () => {
    let delay = 1000;
    while (!abort.signal.aborted && !ended) {
      try {
        const headers: Record<string, string> = { Accept: "text/event-stream" };
        if (lastId) headers["Last-Event-ID"] = lastId;
        const r = await authedFetch(new Request(path, { headers, signal: abort.signal }));
        if (r.status === 404 || r.status === 401 || r.status === 403) return;
        if (!r.ok || !r.body) throw new Error(`stream answered ${r.status}`);
        delay = 1000;
        const parser = createParser({
          onEvent(m: EventSourceMessage) {
            if (m.id) lastId = m.id;
            let data: unknown = m.data;
            try {
              data = JSON.parse(m.data);
            } catch {
              // Not JSON: pass the text on.
            }
            const event = m.event ?? "message";
            if (event === "end") ended = true;
            onEvent({ event, data, id: m.id });
          },
        });
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch {
        if (abort.signal.aborted) return;
      }
      if (ended || abort.signal.aborted) return;
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  };
  void run();
  return () => abort.abort();
}
