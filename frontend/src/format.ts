// How numbers, sizes, durations and dates read in the app.

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** `1:05`, `1:02:03`: a position or length in a video. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** `about 3 s`, `2 min 5 s`: a time left. */
export function eta(seconds: number, toTheMinute = false): string {
  if (!Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = toTheMinute ? Math.round(s / 60) : Math.floor(s / 60);
  if (m >= 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
  return toTheMinute ? `${m} min` : `${m} min ${s % 60} s`;
}

/** `45 s`, `12 min`, `3 h 5 min`: a longer wait, to the minute. */
export const roughly = (seconds: number) => eta(seconds, true);

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function when(iso: string | null | undefined): string {
  return iso ? dateFmt.format(new Date(iso)) : "—";
}

export function percent(x: number): string {
  return `${Math.round(x * 100)} %`;
}

/**
 * `$0.0042`, `$12.50`: US dollars, as the API's cost summaries write them
 * (four decimals under a dollar, where cloud and CPU costs live; cents above).
 */
export function usd(x: number): string {
  if (!Number.isFinite(x)) return "—";
  const sign = x < 0 ? "-" : "";
  const v = Math.abs(x);
  if (v === 0) return "$0.00";
  const digits = v >= 1 ? 2 : 4;
  const text = v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  // Below a hundredth of a cent four decimals read `$0.0000`: say it is more than nothing.
  return text === "0.0000" ? "< $0.0001" : `${sign}$${text}`;
}
