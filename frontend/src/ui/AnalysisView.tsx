// The analysis: summary, chapters (their times find the line in the
// transcript) and topics, from the job's `analysis.json`.

import { clock } from "../format";
import { ErrorNote, Loading, type Loaded } from "./common";
import { span, type AnalysisReport } from "./jobOutputs";

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
          </p>
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
