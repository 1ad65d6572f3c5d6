// The tenant's moderation policy: a threshold and an action per category.
// Everyone reads it; admins and owners change it (PATCH is admin-only).

import { useState } from "preact/hooks";
import { api, must, type Schemas } from "../../api/client";
import { atLeast, useAuth } from "../../auth";
import { Link } from "../../router";
import { ErrorNote, Loading, useLoad } from "../../ui/common";
import { AdminsOnly, inputValue, useAction } from "./parts";

type Category = Schemas["Category"];
type Action = Schemas["Action"];
type Settings = Schemas["TenantSettings"];

/** What each category covers (core/src/moderation.rs); a Record, so a new category fails the build here. */
const CATEGORIES: Record<Category, string> = {
  toxicity: "Rude, disrespectful or unreasonable language.",
  severe_toxicity: "Very hateful, aggressive language.",
  harassment: "Insults and abuse aimed at a person.",
  hate: "Attacks on people for who they are, comparisons to animals or vermin included.",
  violence: "Threats of violence against people, and wishes of harm.",
  profanity: "Swearing, obscene or vulgar language.",
  sexual: "Explicit sexual content (not sex education or medicine). Scored by meaning only: weaker than the rest.",
  self_harm: "Encouraging self-harm, or saying one means to (not seeking help). Scored by meaning only: weaker than the rest.",
};
const ORDER = Object.keys(CATEGORIES) as Category[];
const ACTIONS: { id: Action; name: string }[] = [
  { id: "ignore", name: "ignore (record the score only)" },
  { id: "flag", name: "flag (hold for review)" },
  { id: "block", name: "block (never publish unless approved)" },
];
/** Cutroom's rule for a category the policy leaves out (`ModerationPolicy::rule`). */
const DEFAULT = { threshold: 0.5, action: "flag" as Action };

interface Row {
  threshold: string;
  action: Action;
  /** Whether the tenant has its own rule; otherwise the default applies and the category is left out. */
  own: boolean;
}

const show = (t: number) => String(Math.round(t * 1000) / 1000);

function rowsOf(s: Settings): Record<Category, Row> {
  const rows = {} as Record<Category, Row>;
  for (const c of ORDER) {
    const r = s.moderation.rules[c];
    rows[c] = r
      ? { threshold: show(r.threshold), action: r.action, own: true }
      : { threshold: show(DEFAULT.threshold), action: DEFAULT.action, own: false };
  }
  return rows;
}

export function ModerationTab() {
  const { me } = useAuth();
  const canEdit = atLeast(me, "admin");
  const settings = useLoad(async () => must(await api.GET("/v1/tenant/settings")), []);
  return (
    <section class="panel" aria-labelledby="moderation-h">
      <h2 id="moderation-h">Moderation policy</h2>
      <p class="muted">
        Each transcript line and highlight is scored per category from 0 to 1. A score at or above the threshold
        fires the category’s action. New jobs use the policy as it is when they are submitted.
      </p>
      {!canEdit && <AdminsOnly>Only admins and owners can change the policy; you can read it.</AdminsOnly>}
      <ErrorNote error={settings.error} />
      {settings.loading && !settings.data && <Loading what="the policy" />}
      {settings.data && <PolicyForm initial={settings.data} canEdit={canEdit} />}
    </section>
  );
}

function PolicyForm({ initial, canEdit }: { initial: Settings; canEdit: boolean }) {
  const [rows, setRows] = useState(() => rowsOf(initial));
  const [custom, setCustom] = useState(initial.moderation.custom);
  const [saved, setSaved] = useState(false);
  const save = useAction();

  const change = (c: Category, patch: Partial<Row>) => {
    setSaved(false);
    setRows((rs) => ({ ...rs, [c]: { ...rs[c], ...patch } }));
  };

  const submit = (e: Event) => {
    e.preventDefault();
    setSaved(false);
    void save.run(async () => {
      // A merge patch: `null` takes a category out, so its default applies again.
      const rules: Record<string, Schemas["Rule"] | null> = {};
      for (const c of ORDER) {
        const r = rows[c];
        rules[c] = r.own ? { threshold: Number(r.threshold), action: r.action } : null;
      }
      // The spec types the body as the whole settings document; a merge patch is a part of it.
      const body = { moderation: { rules } } as unknown as Settings;
      const next = must(await api.PATCH("/v1/tenant/settings", { body }));
      setRows(rowsOf(next));
      setCustom(next.moderation.custom);
      setSaved(true);
    });
  };

  return (
    <form onSubmit={submit}>
      <div class="table-wrap">
        <table class="policy stack">
          <caption class="visually-hidden">A rule per category</caption>
          <thead>
            <tr>
              <th scope="col">Category</th>
              <th scope="col">Threshold</th>
              <th scope="col">Action</th>
              <th scope="col">Rule</th>
            </tr>
          </thead>
          <tbody>
            {ORDER.map((c) => {
              const r = rows[c];
              return (
                <tr key={c} data-category={c}>
                  <th scope="row">
                    <span class="mono">{c}</span>
                    <div class="muted small" id={`cat-${c}`}>
                      {CATEGORIES[c]}
                    </div>
                  </th>
                  <td data-label="Threshold">
                    <input
                      type="number"
                      min={0}
                      max={1}
                      step="any"
                      required
                      aria-label={`${c} threshold`}
                      aria-describedby={`cat-${c}`}
                      disabled={!canEdit}
                      value={r.threshold}
                      onInput={(e) => change(c, { threshold: inputValue(e), own: true })}
                    />
                  </td>
                  <td data-label="Action">
                    <select
                      aria-label={`${c} action`}
                      disabled={!canEdit}
                      value={r.action}
                      onChange={(e) => change(c, { action: inputValue(e) as Action, own: true })}
                    >
                      {ACTIONS.map((a) => (
                        <option key={a.id} value={a.id}>
                          {a.name}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td data-label="Rule">
                    {r.own ? (
                      <span class="actions">
                        <span>yours</span>
                        {canEdit && (
                          <button
                            type="button"
                            class="link"
                            aria-label={`use default for ${c}`}
                            onClick={() =>
                              change(c, { threshold: show(DEFAULT.threshold), action: DEFAULT.action, own: false })
                            }
                          >
                            use default
                          </button>
                        )}
                      </span>
                    ) : (
                      <span class="default">
                        default ({show(DEFAULT.threshold)}, {DEFAULT.action})
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p class="muted small">
        Categories on the default rule are flagged at {show(DEFAULT.threshold)}; nothing is blocked unless you choose
        so. Changing a value makes the rule yours.
      </p>
      {canEdit && (
        <div class="actions">
          <button type="submit" disabled={save.busy}>
            {save.busy ? "Saving…" : "Save policy"}
          </button>
          <p role="status">{saved ? "Saved." : ""}</p>
        </div>
      )}
      <ErrorNote error={save.error} />
      <CustomPolicies items={custom} />
    </form>
  );
}

function CustomPolicies({ items }: { items: Schemas["CustomPolicy"][] }) {
  return (
    <>
      <h3>Custom policies</h3>
      <p class="muted">
        Rules in plain language, judged line by line by the job’s language-model analysis provider (the local
        model, Gemini or an OpenAI-compatible endpoint; see <Link href="/settings/analysis">Analysis</Link>); jobs
        analysed by the built-in provider cannot apply them. They are managed
        through the API (<code>PATCH /v1/tenant/settings</code>, <code>moderation.custom</code>); saving the
        policy here keeps them as they are.
      </p>
      {items.length === 0 ? (
        <p class="muted">None.</p>
      ) : (
        <ul>
          {items.map((p) => (
            <li key={p.name}>
              <strong class="mono">{p.name}</strong> ({p.category}, {p.action}): {p.text}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
