//! The serenity shell around the commands: log in, register [`DEFINITIONS`] as global slash
//! commands, and turn each interaction into an [`Invocation`] for `commands::handle` and its
//! [`Answer`] into Discord responses.
//!
//! It holds no decisions, so it is kept thin enough to read at a glance: everything it could get
//! wrong is in `options` and `commands`, which are tested without Discord. Discord wants an
//! answer within 3 seconds, so an answer not ready after [`DEFER_AFTER`] is deferred and sent as
//! an edit. Every message goes out with mentions disabled. The token is only handed to serenity
//! and never logged; a refused token stops the bot with one error line, a lost connection is
//! retried with backoff.

use std::time::Duration;

use serenity::all::{
    Client, Command as SlashCommand, CommandInteraction, CommandOptionType, Context,
    CreateAllowedMentions, CreateCommand, CreateCommandOption, CreateEmbed,
    CreateInteractionResponse, CreateInteractionResponseMessage, EditInteractionResponse,
    EventHandler, GatewayIntents, Interaction, Ready, ResolvedValue,
};

use super::commands::{Answer, Invocation, handle};
use super::options::{DEFINITIONS, Kind, Value, parse};
use super::reply::{Embed, Reply};
use crate::app::AppState;
use crate::config::BotToken;

/// How long an answer may take before the interaction is deferred.
const DEFER_AFTER: Duration = Duration::from_millis(2000);
/// The first and the longest wait before logging in again after the connection ended.
const RETRY_FIRST: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// Runs the bot until the task is aborted.
pub async fn run(state: AppState, token: BotToken) {
    let mut wait = RETRY_FIRST;
    loop {
        let handler = Handler { state: state.clone() };
        let client =
            Client::builder(token.expose(), GatewayIntents::empty()).event_handler(handler).await;
        let result = match client {
            Ok(mut client) => client.start().await,
            Err(err) => Err(err),
        };
        match result {
            Err(serenity::Error::Gateway(
                serenity::gateway::GatewayError::InvalidAuthentication,
            )) => {
                tracing::error!(
                    "Discord refused the bot token; the bot stays off until the server restarts \
                     with a valid `discord.bot_token`"
                );
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?wait, "the Discord bot lost its connection")
            }
            Ok(()) => tracing::warn!(retry_in = ?wait, "the Discord bot's connection ended"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MAX);
    }
}

struct Handler {
    state: AppState,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        match SlashCommand::set_global_commands(&ctx.http, definitions()).await {
            Ok(commands) => tracing::info!(
                discord.bot = %ready.user.name,
                commands = commands.len(),
                "Discord bot ready"
            ),
            Err(err) => tracing::error!(error = %err, "registering the slash commands failed"),
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let Interaction::Command(command) = interaction else { return };
        if let Err(err) = answer(&self.state, &ctx, &command).await {
            tracing::warn!(error = %err, command = %command.data.name, "answering a Discord command failed");
        }
    }
}

/// [`DEFINITIONS`] as serenity builders.
fn definitions() -> Vec<CreateCommand> {
    DEFINITIONS
        .iter()
        .map(|def| {
            let options = def.options.iter().map(|option| {
                let kind = match option.kind {
                    Kind::Text => CommandOptionType::String,
                    Kind::Integer => CommandOptionType::Integer,
                };
                let mut built = CreateCommandOption::new(kind, option.name, option.description)
                    .required(option.required);
                match (option.kind, option.max) {
                    (Kind::Integer, Some(max)) => built = built.min_int_value(0).max_int_value(max),
                    (Kind::Text, Some(max)) => {
                        built = built.max_length(u16::try_from(max).unwrap_or(u16::MAX));
                    }
                    (_, None) => {}
                }
                built
            });
            CreateCommand::new(def.name)
                .description(def.description)
                .dm_permission(false)
                .set_options(options.collect())
        })
        .collect()
}

async fn answer(
    state: &AppState,
    ctx: &Context,
    command: &CommandInteraction,
) -> serenity::Result<()> {
    let options: Vec<(String, Value)> = command
        .data
        .options()
        .into_iter()
        .filter_map(|option| {
            let value = match option.value {
                ResolvedValue::String(text) => Value::Text(text.to_owned()),
                ResolvedValue::Integer(n) => Value::Integer(n),
                _ => return None,
            };
            Some((option.name.to_owned(), value))
        })
        .collect();
    let parsed = match parse(&command.data.name, &options) {
        Ok(parsed) => parsed,
        Err(message) => return respond(ctx, command, &Reply::private(message)).await,
    };
    let invocation = Invocation {
        guild_id: command.guild_id.map(|id| id.get().to_string()),
        user_id: command.user.id.get().to_string(),
        user_name: command.user.name.clone(),
        command: parsed,
    };
    let mut handled = Box::pin(handle(state, invocation));
    let (answer, deferred) = tokio::select! {
        answer = &mut handled => (answer, false),
        () = tokio::time::sleep(DEFER_AFTER) => {
            command.defer(&ctx.http).await?;
            (handled.await, true)
        }
    };
    let follow_up = match answer {
        Answer::Now(reply) => {
            return if deferred {
                edit(ctx, command, &reply).await
            } else {
                respond(ctx, command, &reply).await
            };
        }
        Answer::Deferred { first, follow_up } => {
            if deferred {
                edit(ctx, command, &first).await?;
            } else {
                respond(ctx, command, &first).await?;
            }
            follow_up
        }
    };
    let (ctx, command) = (ctx.clone(), command.clone());
    tokio::spawn(async move {
        let reply = follow_up.await;
        if let Err(err) = edit(&ctx, &command, &reply).await {
            tracing::warn!(error = %err, "editing a Discord reply with its job's end failed");
        }
    });
    Ok(())
}

fn embed_of(embed: &Embed) -> CreateEmbed {
    CreateEmbed::new()
        .title(&embed.title)
        .description(&embed.description)
        .colour(embed.colour)
        .fields(embed.fields.iter().map(|(name, value)| (name, value, true)))
}

async fn respond(
    ctx: &Context,
    command: &CommandInteraction,
    reply: &Reply,
) -> serenity::Result<()> {
    let mut message = CreateInteractionResponseMessage::new()
        .content(&reply.content)
        .ephemeral(reply.ephemeral)
        .allowed_mentions(CreateAllowedMentions::new());
    if let Some(embed) = &reply.embed {
        message = message.embed(embed_of(embed));
    }
    command.create_response(&ctx.http, CreateInteractionResponse::Message(message)).await
}

async fn edit(ctx: &Context, command: &CommandInteraction, reply: &Reply) -> serenity::Result<()> {
    let mut message = EditInteractionResponse::new()
        .content(&reply.content)
        .allowed_mentions(CreateAllowedMentions::new());
    if let Some(embed) = &reply.embed {
        message = message.embed(embed_of(embed));
    }
    command.edit_response(&ctx.http, message).await.map(drop)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// What Discord is sent when the commands are registered.
    fn registered() -> Vec<Value> {
        definitions().iter().map(|command| serde_json::to_value(command).unwrap()).collect()
    }

    #[test]
    fn every_command_is_registered_with_its_options_and_limits_and_not_for_direct_messages() {
        let commands = registered();
        let names: Vec<_> = commands.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["hosts", "status", "players", "run", "restart", "say", "jobs", "link"]);
        assert!(commands.iter().all(|c| c["dm_permission"] == json!(false)));
        let option = |command: &str, option: &str| {
            let command = commands.iter().find(|c| c["name"] == command).unwrap();
            let options = command["options"].as_array().unwrap();
            options.iter().find(|o| o["name"] == option).unwrap().clone()
        };
        // Option types: 3 is a string, 4 an integer.
        let delay = option("restart", "delay");
        assert_eq!(
            (&delay["type"], &delay["required"], &delay["min_value"], &delay["max_value"]),
            (&json!(4), &json!(false), &json!(0), &json!(3600))
        );
        let message = option("say", "message");
        assert_eq!(
            (&message["type"], &message["required"], &message["max_length"]),
            (&json!(3), &json!(true), &json!(500))
        );
        assert_eq!(option("jobs", "host")["required"], json!(false));
        assert_eq!(option("status", "host")["required"], json!(true));
    }

    #[test]
    fn an_embed_keeps_its_title_fields_and_colour() {
        let embed = Embed {
            title: "eu\\-1".into(),
            description: "online".into(),
            fields: vec![("Agent".into(), "0.1.0".into())],
            colour: 0x2e_cc_71,
        };
        let sent = serde_json::to_value(embed_of(&embed)).unwrap();
        assert_eq!(sent["title"], "eu\\-1");
        assert_eq!(sent["color"], 0x2e_cc_71);
        assert_eq!(sent["fields"][0], json!({"name": "Agent", "value": "0.1.0", "inline": true}));
    }
}
