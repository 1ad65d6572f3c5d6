// The tenant's settings, one tab per concern; each tab is its own file
// under settings/ and loads only what it shows.

import { Link } from "../router";
import { PageTitle } from "../ui/common";
import { AnalysisTab } from "./settings/Analysis";
import { KeysTab } from "./settings/Keys";
import { LogoTab } from "./settings/Logo";
import { ModerationTab } from "./settings/Moderation";
import { TranscriptionTab } from "./settings/Transcription";
import { UsageTab } from "./settings/Usage";
import { WebhooksTab } from "./settings/Webhooks";
import "./admin.css";

const TABS = [
  { id: "keys", name: "API keys", page: KeysTab },
  { id: "webhooks", name: "Webhooks", page: WebhooksTab },
  { id: "moderation", name: "Moderation", page: ModerationTab },
  { id: "transcription", name: "Transcription", page: TranscriptionTab },
  { id: "analysis", name: "Analysis", page: AnalysisTab },
  { id: "audiograms", name: "Audiograms", page: LogoTab },
  { id: "usage", name: "Usage", page: UsageTab },
] as const;

export function SettingsPage({ tab }: { tab: string }) {
  const current = TABS.find((t) => t.id === tab);
  const Page = current?.page;
  return (
    <>
      <PageTitle title={current ? `${current.name} · Settings` : "Settings"}>Settings</PageTitle>
      <nav class="tabs" aria-label="Settings">
        {TABS.map((t) => (
          // `/settings` shows the first tab: mark it as the current one there too.
          <Link
            key={t.id}
            href={`/settings/${t.id}`}
            aria-current={t === current ? "page" : undefined}
          >
            {t.name}
          </Link>
        ))}
      </nav>
      {Page ? (
        <Page />
      ) : (
        <p class="error" role="alert">
          There is no settings tab “{tab}”. Choose one of the tabs above.
        </p>
      )}
    </>
  );
}
