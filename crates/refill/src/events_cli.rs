//! `refill events redeliver`: sends notifications again (R28), for an operator at a
//! terminal. The running nodes pick the reset deliveries up at their next poll.

use anyhow::{Context, bail};
use refill_store::{Db, Redeliver};

pub const USAGE: &str = "usage: refill events redeliver <event id> [--only-dead]
       refill events redeliver --dead      (every dead-lettered delivery)";

pub async fn run(args: &[String], database_url: &str) -> anyhow::Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let db = Db::connect(database_url).await?;
    db.migrate().await.context("cannot apply the schema")?;
    let now = refill_store::wall_clock_ms();
    let mut tx = db.begin().await?;
    let message = match args.as_slice() {
        ["redeliver", "--dead"] => {
            let n = refill_store::redeliver(&mut tx, Redeliver::AllDead, now).await?;
            format!("{n} dead-lettered deliveries will be sent again")
        }
        ["redeliver", id] | ["redeliver", id, "--only-dead"] => {
            if refill_store::get_event(&mut *tx, id).await?.is_none() {
                bail!("no event {id:?}: list events with GET /v1/events");
            }
            let which = match args.len() {
                3 => Redeliver::DeadOfEvent(id),
                _ => Redeliver::Event(id),
            };
            let n = refill_store::redeliver(&mut tx, which, now).await?;
            match n {
                0 => format!("event {id} has no deliveries to send again (yet)"),
                n => format!("{n} deliveries of event {id} will be sent again"),
            }
        }
        _ => bail!("{USAGE}"),
    };
    tx.commit().await?;
    println!("refill: {message}");
    Ok(())
}
