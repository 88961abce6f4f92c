// The phone's navigation drawer: a modal panel over the page that closes on Escape, on a click
// outside it or when a link in it is followed, and hands focus back to the button that opened it
// (so a keyboard user lands where they were, not at the top of the page).
import { useEffect, useRef, type ReactNode, type RefObject } from "react";

export interface NavDrawerProps {
  open: boolean;
  /** Called to close; the drawer then returns focus to `opener`. */
  onClose: () => void;
  opener: RefObject<HTMLElement | null>;
  label: string;
  children: ReactNode;
}

export function NavDrawer({ open, onClose, opener, label, children }: NavDrawerProps) {
  const panel = useRef<HTMLDivElement>(null);
  const wasOpen = useRef(false);

  useEffect(() => {
    if (open) {
      wasOpen.current = true;
      // Focus moves into the drawer: its first link, else the panel itself.
      const first = panel.current?.querySelector<HTMLElement>("a[href], button:not([disabled])");
      (first ?? panel.current)?.focus();
      const onKey = (event: KeyboardEvent) => {
        if (event.key === "Escape") {
          event.preventDefault();
          onClose();
        }
      };
      document.addEventListener("keydown", onKey);
      return () => document.removeEventListener("keydown", onKey);
    }
    if (wasOpen.current) {
      wasOpen.current = false;
      opener.current?.focus();
    }
    return undefined;
  }, [open, onClose, opener]);

  if (!open) return null;
  return (
    <div className="fixed inset-0 z-30 bg-black/40 md:hidden" onClick={onClose} data-testid="nav-drawer-backdrop">
      <div
        ref={panel}
        role="dialog"
        aria-modal="true"
        aria-label={label}
        tabIndex={-1}
        className="h-full w-64 bg-card outline-none"
        onClick={(e) => e.stopPropagation()}
      >
        {children}
      </div>
    </div>
  );
}
