//! The workload's job (`shoal-testnet __job EVENTS KEY MILLIS`): records its start
//! with the identity Shoal gave it, says it is alive every 100 ms, records its end.
//! A killed attempt leaves its last "alive" as a lower bound of when it died.

use std::path::Path;
use std::time::{Duration, Instant};

use super::history::{now_ns, Event, Recorder};

pub fn run(events: &Path, key: &str, millis: u64) -> std::io::Result<()> {
    let rec = Recorder::open(events)?;
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let job: u64 = var("SHOAL_JOB_ID").parse().unwrap_or(0);
    let attempt: u32 = var("SHOAL_ATTEMPT").parse().unwrap_or(0);
    rec.record(&Event::Start {
        t: now_ns(),
        job,
        attempt,
        node: var("SHOAL_NODE_ID"),
        token: var("SHOAL_FENCING_TOKEN").parse().unwrap_or(0),
        key: key.to_string(),
    });
    let until = Instant::now() + Duration::from_millis(millis);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
        rec.record(&Event::Alive {
            t: now_ns(),
            job,
            attempt,
        });
    }
    rec.record(&Event::End {
        t: now_ns(),
        job,
        attempt,
    });
    Ok(())
}
