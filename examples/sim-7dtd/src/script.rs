//! The demo script: four players join, chat on every channel, kill zombies, die, respawn and
//! leave, round and round; every six steps the periodic `Time:` stats line. At speed 1.0 a step
//! is 5 s, so the stats line comes every 30 s as on the real server.

use std::sync::Arc;
use std::time::Duration;

use crate::commands;
use crate::world::World;

const STEP: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
enum Step {
    Join(&'static str),
    Chat(&'static str, &'static str, &'static str),
    Kill(&'static str, &'static str),
    Die(&'static str),
    Leave(&'static str),
}

const SCRIPT: &[Step] = &[
    Step::Join("Catalysm"),
    Step::Join("Cata lysm"),
    Step::Chat("Catalysm", "Global", "hello there"),
    Step::Kill("Catalysm", "zombieNurse"),
    Step::Chat("Cata lysm", "Party", "need ammo: 9mm"),
    Step::Join("Zoë"),
    Step::Die("Cata lysm"),
    Step::Chat("Zoë", "Global", "[00FF00]hi all[-]"),
    Step::Kill("Zoë", "zombieBoe"),
    Step::Leave("Catalysm"),
    Step::Join("Lake"),
    Step::Chat("Lake", "Friends", "anyone at the trader?"),
    Step::Leave("Cata lysm"),
    Step::Leave("Zoë"),
    Step::Leave("Lake"),
];

pub(crate) async fn play(world: Arc<World>) {
    let period = STEP.div_f64(world.config.script_speed.clamp(0.001, 1000.0));
    let mut ticker = tokio::time::interval(period);
    ticker.tick().await;
    let mut zombie_id = 613_814_i64;
    for (n, step) in SCRIPT.iter().cycle().enumerate() {
        ticker.tick().await;
        if *world.stopped.borrow() {
            return;
        }
        if n % 6 == 5 {
            world.log(&commands::mem_line(&world));
        }
        zombie_id += 1;
        perform(&world, *step, zombie_id);
    }
}

fn perform(world: &World, step: Step, zombie_id: i64) {
    match step {
        Step::Join(name) => {
            if world.find(name).is_some() {
                return;
            }
            let player = world.join(name);
            world.log(&format!("GMSG: Player '{name}' joined the game"));
            world.log(&format!(
                "PlayerSpawnedInWorld (reason: JoinMultiplayer, position: {:.0}, {:.0}, {:.0}): {}",
                player.position[0],
                player.position[1],
                player.position[2],
                player.client_info()
            ));
        }
        Step::Chat(name, channel, message) => {
            let Some(player) = world.find(name) else { return };
            world.log(&format!(
                "Chat (from '{}', entity id '{}', to '{channel}'): '{name}': {message}",
                player.platform_id, player.entity_id
            ));
        }
        Step::Kill(name, zombie) => {
            let Some(player) = world.find(name) else { return };
            world.record_kill(name);
            world
                .log(&format!("Entity {zombie} {zombie_id} killed by {name} {}", player.entity_id));
        }
        Step::Die(name) => {
            let Some(player) = world.find(name) else { return };
            world.record_death(name);
            world.log(&format!("GMSG: Player '{name}' died"));
            world.log(&format!(
                "PlayerSpawnedInWorld (reason: Died, position: {:.0}, {:.0}, {:.0}): {}",
                player.position[0],
                player.position[1],
                player.position[2],
                player.client_info()
            ));
        }
        Step::Leave(name) => {
            let Some(player) = world.leave(name) else { return };
            world.log(&format!("Player disconnected: {}", player.client_info()));
            world.log(&format!("GMSG: Player '{name}' left the game"));
        }
    }
}
