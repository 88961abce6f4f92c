// Dropdown menu on Radix's DropdownMenu primitive (keyboard navigation, roles), shadcn-styled.
import * as Menu from "@radix-ui/react-dropdown-menu";
import type { ReactNode } from "react";

/** A menu opened by `trigger`, whose visible text is its accessible name. */
export function Dropdown({ trigger, children }: { trigger: ReactNode; children: ReactNode }) {
  return (
    <Menu.Root modal={false}>
      <Menu.Trigger asChild>
        {trigger}
      </Menu.Trigger>
      <Menu.Portal>
        <Menu.Content
          align="end"
          sideOffset={4}
          className="z-50 min-w-48 rounded-md border border-border bg-card p-1 text-fg shadow-md"
        >
          {children}
        </Menu.Content>
      </Menu.Portal>
    </Menu.Root>
  );
}

export function DropdownItem({ children, onSelect }: { children: ReactNode; onSelect: () => void }) {
  return (
    <Menu.Item
      onSelect={onSelect}
      className="cursor-pointer rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-muted"
    >
      {children}
    </Menu.Item>
  );
}

export function DropdownLabel({ children }: { children: ReactNode }) {
  return <Menu.Label className="px-2 py-1 text-xs text-muted-fg">{children}</Menu.Label>;
}
