//! `kith-sim`: runs the seeded simulator once. `kith-sim --seed S --nodes N [--members M]
//! [--scenario NAME]` prints the first broken invariant with the events that led to it, and what
//! the honest nodes sent per node per minute after the heal and in the last minute; its last line
//! is the trace hash, and it exits non-zero when an invariant broke. `--members` makes the
//! community larger than the nodes that run (for the traffic figures at scale); `--settle-ms`
//! changes how long after the heal everything must have converged.

use std::process::ExitCode;

use kith_tests::sim::{Base, Scenario, Sim};

fn usage() -> String {
    format!(
        "usage: kith-sim --seed S --nodes N [--members M] [--settle-ms MS] [--scenario {}]",
        Scenario::NAMES.join("|")
    )
}

fn main() -> ExitCode {
    let mut seed = 1u64;
    let mut nodes = 200usize;
    let mut members = None;
    let mut settle_ms = None;
    let mut scenario = "storm".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        let parsed = match (arg.as_str(), value) {
            ("--seed", Some(v)) => v.parse().map(|v| seed = v).is_ok(),
            ("--nodes", Some(v)) => v.parse().map(|v| nodes = v).is_ok(),
            ("--members", Some(v)) => v.parse().map(|v| members = Some(v)).is_ok(),
            ("--settle-ms", Some(v)) => v.parse().map(|v| settle_ms = Some(v)).is_ok(),
            ("--scenario", Some(v)) => {
                scenario = v;
                true
            }
            _ => false,
        };
        if !parsed {
            eprintln!("{}", usage());
            return ExitCode::from(2);
        }
    }
    let Some(mut scenario) = Scenario::named(&scenario, nodes) else {
        eprintln!("no scenario named {scenario}\n{}", usage());
        return ExitCode::from(2);
    };
    scenario.members = members.unwrap_or(scenario.nodes).max(scenario.nodes);
    scenario.settle_ms = settle_ms.unwrap_or(scenario.settle_ms);
    let started = std::time::Instant::now();
    let base = Base::new(scenario.members);
    let built = started.elapsed();
    let outcome = base.and_then(|base| Sim::new(scenario.clone(), seed, &base)).map(Sim::run);
    // Wall-clock figures go to stderr only: the trace line stays the same run to run.
    eprintln!(
        "(base community built in {:.2}s, run in {:.2}s)",
        built.as_secs_f64(),
        (started.elapsed() - built).as_secs_f64()
    );
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("kith-sim: cannot set up the run: {error:#}");
            return ExitCode::from(2);
        }
    };
    println!(
        "scenario {} seed {seed} nodes {}: {} events, {} entries acknowledged",
        scenario.name, scenario.nodes, outcome.events, outcome.acked
    );
    let (heal, steady) = (outcome.traffic.after_heal, outcome.traffic.steady);
    println!(
        "per honest node per minute ({} members): after the heal {} bytes in {} messages; steady {} bytes in {} messages",
        scenario.members, heal.bytes, heal.messages, steady.bytes, steady.messages
    );
    match outcome.converged_after_ms {
        Some(ms) => println!("converged {ms} ms (virtual) after the heal"),
        None => println!("did not converge"),
    }
    let code = match &outcome.violation {
        None => {
            println!("every invariant held");
            ExitCode::SUCCESS
        }
        Some(violation) => {
            println!("INVARIANT BROKEN: {violation}");
            println!("the events before it:");
            for line in &outcome.trail {
                println!("  {line}");
            }
            ExitCode::FAILURE
        }
    };
    println!("trace {}", outcome.trace_hash);
    code
}
