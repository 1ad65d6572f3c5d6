// The analysis: summary, chapters (their times find the line in the
// transcript) and topics, from the job's `analysis.json`; and who wrote
// it: the router's choice of provider, what the local model wrote, and
// what the model was asked.

import { clock, eta, usd } from "../format";
import { ErrorNote, Loading, type Loaded } from "./common";
import { span, type AnalysisReport, type AnalysisRoute, type AnalysisUsage } from "./jobOutputs";
import { providerName } from "./providers";

interface Props {
  analysis: Loaded<AnalysisReport | null>;
  live: boolean;
  onTime: (t: number) => void;
}

export function AnalysisView({ analysis, live, onTime }: Props) {
  const a = analysis.data;
  return (
    <section aria-labelledby="summary-h">
      <h2 id="summary-h">Summary</h2>
      {analysis.loading && !a && <Loading what="the summary" />}
      <ErrorNote error={analysis.error} />
      {a === null && !analysis.loading && (
        <p class="muted">
          {live ? "The summary, chapters and topics appear once the analysis stage has run." : "This job has no analysis."}
        </p>
      )}
      {a && (
        <>
          {a.summary ? <p class="summary">{a.summary}</p> : <p class="muted">Too little was said to summarise.</p>}
          <p class="muted small">
            Written by the {a.provider} analysis{a.model && a.provider !== "builtin" ? ` (${a.model})` : ""} from{" "}
            {a.sentences} {a.sentences === 1 ? "sentence" : "sentences"}.
            {a.usage && a.usage.requests > 0 && <Usage usage={a.usage} />}
          </p>
          {a.route && <RouteNote route={a.route} />}
          {a.wording && <WordingNote wording={a.wording} />}
          {a.fallback && (
            <p class="note small" role="note">
              The {a.requested_provider} provider was asked for but not used: {a.fallback.message}{" "}
              <span class="code muted">({a.fallback.code})</span>
            </p>
          )}
          {a.warnings.map((w, i) => (
            <p class="note small" role="note" key={i}>
              {w}
            </p>
          ))}
          <div class="analysis-cols">
            <div>
              <h3>Chapters</h3>
              {a.chapters.length === 0 ? (
                <p class="muted">No chapters.</p>
              ) : (
                <ol class="chapters">
                  {a.chapters.map((c) => (
                    <li key={c.start}>
                      <button
                        type="button"
                        class="link time"
                        aria-label={`Go to ${clock(c.start)}, chapter ${c.title}`}
                        onClick={() => onTime(c.start)}
                      >
                        {clock(c.start)}
                      </button>{" "}
                      {c.title} <span class="muted small">({span(c)})</span>
                    </li>
                  ))}
                </ol>
              )}
            </div>
            <div>
              <h3>Topics</h3>
              {a.keywords.length === 0 ? (
                <p class="muted">No topics.</p>
              ) : (
                <ul class="topics">
                  {a.keywords.map((k) => (
                    <li key={k.word}>
                      {k.word}{" "}
                      <span class="muted small">
                        ({k.count}
                        <span class="visually-hidden"> mentions</span>)
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </div>
          </div>
        </>
      )}
    </section>
  );
}

/** Why `auto` chose the provider, and the providers it weighed. */
function RouteNote({ route: r }: { route: AnalysisRoute }) {
  return (
    <div
      class="analysis-route small"
      role="note"
      aria-label="How the provider was chosen"
      data-testid="analysis-route"
    >
      <p>
        Chosen by the router (tier {r.tier}): {r.reason}
      </p>
      {r.considered.length > 0 && (
        <details>
          <summary>Providers considered</summary>
          <ul class="route-list">
            {r.considered.map((c) => (
              <li key={c.provider} data-provider={c.provider}>
                <strong>{providerName(c.provider)}</strong>,{" "}
                {c.estimated_cost_usd > 0 ? `about ${usd(c.estimated_cost_usd)}` : "no charge estimated"}:{" "}
                {c.set_aside ? (
                  <span>set aside ({c.set_aside})</span>
                ) : (
                  <span class="ok">chosen</span>
                )}
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

/** What the local model wrote over builtin's wording, and why the rest was refused. */
function WordingNote({ wording: w }: { wording: NonNullable<AnalysisReport["wording"]> }) {
  const more = w.refused > w.reasons.length;
  return (
    <div
      class="analysis-wording small"
      role="note"
      aria-label="What the local model wrote"
      data-testid="analysis-wording"
    >
      <p>
        The local model wrote {w.written} of {w.asked} titles and summaries; {w.refused} kept builtin’s wording.
      </p>
      {w.reasons.length > 0 && (
        <details>
          <summary>{more ? `Why they were refused (the first ${w.reasons.length})` : "Why they were refused"}</summary>
          <ul class="route-list">
            {w.reasons.map((r, i) => (
              <li key={i}>{r}</li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

/** ` The model was sent 3 requests (1200 tokens in, 300 out) over 4.2 s, $0.0012.` */
function Usage({ usage: u }: { usage: AnalysisUsage }) {
  const time = u.seconds < 60 ? `${u.seconds.toFixed(1)} s` : eta(u.seconds);
  return (
    <>
      {" "}
      The model was sent {u.requests} {u.requests === 1 ? "request" : "requests"} ({u.prompt_tokens} tokens in,{" "}
      {u.completion_tokens} out) over {time}
      {u.cost_usd != null && `, ${usd(u.cost_usd)}`}.
    </>
  );
}
