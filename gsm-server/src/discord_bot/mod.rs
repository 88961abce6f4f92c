//! The Discord bot: slash commands that run with the linked org member's role.
//!
//! `commands` holds the commands as plain async functions over the services the REST API uses
//! (the store, `dispatch`, `Role::may`), with no Discord types in them, so they are tested
//! without Discord: it applies the gates every command shares, then hands over to `reads`
//! (`/hosts`, `/status`, `/players`, `/jobs`) or `runs` (`/run`, `/restart`, `/say`). `reply` is
//! what they answer and the guard that makes outside text inert; `link` makes and reads `/link`'s
//! one-time codes; `options` is the table of commands and their options and turns an
//! interaction's options into a `commands::Command`. `adapter`, the only module that knows
//! serenity, registers the commands and maps interactions to `commands::handle`: a thin shell
//! that cannot be tested against Discord here. One bot runs per deployment, only when the
//! server's config holds a bot token; each guild is linked to one org from that org's settings
//! (`…/settings/discord-bot`).

pub mod adapter;
pub mod commands;
pub mod link;
pub mod options;
mod reads;
pub mod reply;
mod runs;
