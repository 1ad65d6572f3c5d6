// Pieces the settings tabs and the members page share.

import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import type { Me, Role } from "../../auth";
import { atLeast } from "../../auth";
import { CopyButton } from "../../ui/common";

export const ROLES: Role[] = ["viewer", "member", "admin", "owner"];

/** The roles `me` may hand out: the API refuses any above one's own. */
export function grantable(me: Me): Role[] {
  return ROLES.filter((r) => atLeast(me, r));
}

export const inputValue = (e: Event) => (e.target as HTMLInputElement).value;

/** A labelled choice of the roles `me` may grant (none above their own). */
export function RoleSelect({ me, value, onChange }: { me: Me; value: Role; onChange: (r: Role) => void }) {
  return (
    <label>
      Role
      <select value={value} onChange={(e) => onChange(inputValue(e) as Role)}>
        {grantable(me).map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
    </label>
  );
}

/** One request at a time from a control, with its error kept for display. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (f: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

/** A value the API shows only once: in a code element, with a Copy button. */
export function OneTime({
  id,
  text,
  children,
  onDismiss,
}: {
  id: string;
  text: string;
  children: ComponentChildren;
  onDismiss: () => void;
}) {
  return (
    <div class="notice">
      <p role="status">{children}</p>
      <div class="secret">
        <code id={id}>{text}</code>
        <CopyButton text={text} />
        <button type="button" class="secondary" onClick={onDismiss}>
          Done
        </button>
      </div>
    </div>
  );
}

/** Why a part of the page is read-only or hidden, said where the controls would be. */
export function AdminsOnly({ children }: { children: ComponentChildren }) {
  return <p class="notice">{children}</p>;
}
