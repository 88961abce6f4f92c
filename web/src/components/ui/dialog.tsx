// Modal dialog on Radix's Dialog primitive (focus trap, Escape, aria wiring), styled like shadcn's.
import * as DialogPrimitive from "@radix-ui/react-dialog";
import type { ReactNode } from "react";

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
  return (
    <DialogPrimitive.Root open={open} onOpenChange={onOpenChange}>
      <DialogPrimitive.Portal>
        <DialogPrimitive.Overlay className="fixed inset-0 z-40 bg-black/50" />
        <DialogPrimitive.Content
          className="fixed top-1/2 left-1/2 z-50 max-h-[90vh] w-[min(36rem,calc(100vw-2rem))] -translate-x-1/2 -translate-y-1/2 overflow-y-auto rounded-lg border border-border bg-card p-5 text-fg shadow-lg"
          aria-describedby={description ? undefined : undefined}
        >
          <DialogPrimitive.Title className="mb-1 text-lg font-semibold">{title}</DialogPrimitive.Title>
          <DialogPrimitive.Description className="mb-4 text-sm text-muted-fg">
            {description ?? title}
          </DialogPrimitive.Description>
          {children}
          <DialogPrimitive.Close
            className="absolute top-3 right-3 rounded px-2 text-muted-fg hover:text-fg"
            aria-label="Close"
          >
            ×
          </DialogPrimitive.Close>
        </DialogPrimitive.Content>
      </DialogPrimitive.Portal>
    </DialogPrimitive.Root>
  );
}
