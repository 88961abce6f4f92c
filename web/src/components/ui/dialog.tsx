// Modal dialog on the native <dialog> element, styled like shadcn's. `showModal()` gives the
// browser's own focus trap, Escape to close and an inert background, with no injected <style>
// (Radix's Dialog locks scrolling with an inline stylesheet, which the server's CSP refuses).
import { useEffect, useId, useRef, type ReactNode } from "react";

export function Dialog({
  open,
  onOpenChange,
  title,
  description,
  children,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  title: string;
  description?: string;
  children: ReactNode;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    else if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      aria-describedby={descriptionId}
      onClose={() => onOpenChange(false)}
      className="m-auto max-h-[90vh] w-[min(36rem,calc(100vw-2rem))] overflow-y-auto rounded-lg border border-border bg-card p-5 text-fg shadow-lg backdrop:bg-black/50"
    >
      {open && (
        <>
          <h2 id={titleId} className="mb-1 text-lg font-semibold">
            {title}
          </h2>
          <p id={descriptionId} className="mb-4 text-sm text-muted-fg">
            {description ?? title}
          </p>
          {children}
          <button
            type="button"
            className="absolute top-3 right-3 rounded px-2 text-muted-fg hover:text-fg"
            aria-label="Close"
            onClick={() => onOpenChange(false)}
          >
            ×
          </button>
        </>
      )}
    </dialog>
  );
}
