export function SettingsPage({ tab }: { tab: string }) {
  return <p>Settings {tab}</p>;
}
