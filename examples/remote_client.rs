//! A client against a relay and an engine running as their own processes.
//!
//! Start these first, each in its own terminal, from the repository root:
//!
//! ```text
//! cargo run -p giocci-relay                 # listens on tcp/127.0.0.1:7447
//! cargo run -p giocci-engine                # connects there, registers
//! ```
//!
//! then run this example:
//!
//! ```text
//! cargo run --example remote_client
//! ```
//!
//! It registers, saves the `text` module, and calls it synchronously,
//! asynchronously and as a stream. `--connect`, `--relay` and `--key-prefix`
//! point it at another deployment; they must match what the relay and the
//! engine were started with.

use std::time::Duration;

use clap::Parser;
use futures::StreamExt;

#[giocci::remote]
pub mod text {
    use serde::{Deserialize, Serialize};

    /// What `stats` finds in a text.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Stats {
        pub words: usize,
        pub longest: String,
    }

    /// Counts the words of `text` and finds the longest.
    pub fn stats(text: String) -> Stats {
        let words: Vec<&str> = text.split_whitespace().collect();
        let longest = words
            .iter()
            .max_by_key(|word| word.len())
            .copied()
            .unwrap_or_default();
        Stats {
            words: words.len(),
            longest: longest.to_owned(),
        }
    }

    /// `text` with its words in reverse order.
    pub fn reverse_words(text: String) -> String {
        text.split_whitespace().rev().collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, Parser)]
#[command(about = "Calls a separately started giocci relay and engine")]
struct Args {
    /// Zenoh endpoint of the relay (or of a router in front of it).
    #[arg(long, default_value = giocci::transport::DEFAULT_ENDPOINT)]
    connect: String,

    /// Name of the relay.
    #[arg(long, default_value = giocci::DEFAULT_RELAY)]
    relay: String,

    /// Key prefix the relay and the engine were started with.
    #[arg(long)]
    key_prefix: Option<String>,

    /// This client's name; unique among the relay's clients.
    #[arg(long, default_value = "remote-client")]
    name: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    println!(
        "[1/4] connecting to {} and registering with relay '{}'",
        args.connect, args.relay
    );
    let mut builder = giocci::Client::builder(&args.name)
        .connect(&args.connect)
        .relay(&args.relay)
        .timeout(Duration::from_secs(10));
    if let Some(prefix) = &args.key_prefix {
        builder = builder.key_prefix(prefix);
    }
    let client = builder.open().await?;
    client.register_client().await?;

    println!("[2/4] saving module 'text'");
    client.save_module(&text::module()).await?;
    let remote = text::remote(&client);

    println!("[3/4] calling it");
    let sentence = "giocci runs ordinary rust functions on remote engines".to_owned();
    let stats = remote.stats(sentence.clone()).await?;
    println!(
        "      stats: {} words, longest '{}'",
        stats.words, stats.longest
    );
    let call = remote.reverse_words_async(sentence).await?;
    let engine = call.engine().to_owned();
    println!("      reverse_words (engine '{engine}'): {}", call.await?);

    println!("[4/4] streaming five calls");
    let lines = [
        "one",
        "two words",
        "three short words",
        "four words in line",
        "five",
    ];
    let inputs = lines.iter().map(|line| ((*line).to_owned(),));
    let mut results = remote.stats_stream(inputs);
    while let Some((index, result)) = results.next().await {
        println!("      line {index}: words = {}", result?.words);
    }
    drop(results);

    client.close().await?;
    Ok(())
}
