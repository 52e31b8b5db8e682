//! The command line as typed: clap's derive types, raw strings and flags. Nothing here is
//! checked beyond what clap checks; [`crate::validate`] turns it into commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A Kith node: offers, requests, gatherings and a time bank among neighbours.
#[derive(Debug, Parser)]
#[command(name = "kith", version, about, max_term_width = 100)]
pub struct Cli {
    /// The node's home folder (key, config, database, API address) [default: ~/.local/share/kith]
    #[arg(long, global = true, env = "KITH_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print exactly one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CommandArgs,
}

#[derive(Debug, Subcommand)]
pub enum CommandArgs {
    /// Create this home's key and print the member id
    Init {
        /// Your name, as the community will see it
        #[arg(long)]
        name: Option<String>,
    },
    /// Found a community
    #[command(subcommand)]
    Community(CommunityArgs),
    /// Make this home a member-to-be of the invite's community
    Join {
        /// The invite, one line starting with `kith:`
        invite: String,
        /// Your name, as the community will see it
        #[arg(long)]
        name: Option<String>,
    },
    /// Back the key up as words on paper, or restore it
    #[command(subcommand)]
    Key(KeyArgs),
    /// Run the node in the foreground until Ctrl-C
    Run(RunArgs),
    /// This node: member, community, addresses, peers, balance
    Status,
    /// Make an invite for a newcomer
    Invite(InviteArgs),
    /// The peers this node is connected to
    Peers,
    /// Offer help: prints the new post's id
    Offer(PostArgs),
    /// Ask for help: prints the new post's id
    Request(PostArgs),
    /// Announce a gathering: prints the new post's id
    Gathering(GatheringArgs),
    /// Open posts, newest first
    Board(BoardArgs),
    /// A post and its replies
    Show {
        /// The post: its id or the first digits of it
        post: String,
    },
    /// Reply to a post
    Reply { post: String, text: String },
    /// Mark your post done
    Done { post: String },
    /// Withdraw your post
    Withdraw { post: String },
    /// Give time credit to a member: prints the transfer's id
    Pay(PayArgs),
    /// A member's balance (yours by default)
    Balance { member: Option<String> },
    /// A member's transfers, both ways (yours by default)
    Statement { member: Option<String> },
    /// Members, and newcomers waiting for vouches
    Members {
        /// Only join requests waiting for vouches
        #[arg(long)]
        pending: bool,
    },
    /// Vouch for a newcomer: admits or helps admit them
    Vouch {
        member: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Your profile: name, area, skills, contact
    Profile(ProfileArgs),
    /// A one-time link that opens your community's web page in a browser (works once, for 10 minutes)
    Open,
    /// A one-time code, link and QR code that pair a tablet or phone on the home network with
    /// the page (node run with --lan; works once, for 10 minutes)
    Pair,
    /// Everything this node knows of the community, for a spreadsheet or a backup
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this file instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Organisers: hide a member's posts and cut them off
    Suspend {
        member: String,
        #[arg(long)]
        reason: String,
    },
    /// Founder and organisers: make a member an organiser (or admit a hub node)
    Appoint {
        member: String,
        /// Admit a hub node instead
        #[arg(long)]
        hub: bool,
    },
    /// Print the shell completion script for bash, zsh or fish
    Completions {
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Print the man page (roff), for `man -l -` or a man folder
    Manpage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Lines for people
    #[default]
    Text,
    /// One JSON object a line, for a log collector
    Json,
}

#[derive(Debug, Subcommand)]
pub enum CommunityArgs {
    /// Write the founding entry of a new community, this member its founder
    Create {
        name: String,
        /// How far below zero a balance may go, in hours (or a duration like 90m)
        #[arg(long, value_name = "HOURS")]
        credit_limit: Option<String>,
        /// Vouches from members needed to admit a newcomer
        #[arg(long, value_name = "N")]
        vouches: Option<u8>,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyArgs {
    /// Print the key as 24 words to write on paper
    Backup,
    /// Bring a key back from its words into an empty home (words from the arguments or stdin)
    Restore { words: Vec<String> },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on [default: /ip4/0.0.0.0/tcp/0; with --hub /ip4/0.0.0.0/tcp/4001]
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// A node to connect to at start
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// Run as an always-on community hub: keeps every entry, serves sync and relays for homes
    /// behind routers (join the community first with `kith join INVITE`; an organiser then runs
    /// `kith appoint HUB --hub`)
    #[arg(long)]
    pub hub: bool,
    /// How often to compare heads with a peer and look for members (tests shorten it)
    #[arg(long, value_name = "DURATION", hide = true)]
    pub sync_interval: Option<String>,
    /// Where to serve the local API (loopback only) [default: 127.0.0.1:7474, or any free port]
    #[arg(long, value_name = "ADDR")]
    pub api: Option<String>,
    /// Do not look for neighbours on the local network
    #[arg(long)]
    pub no_mdns: bool,
    /// Also serve the web page on the home network [default address: 0.0.0.0:7475], for
    /// tablets and phones paired with `kith pair`; the API stays on 127.0.0.1. `"lan": true` in
    /// the home's config.json does the same
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "0.0.0.0:7475")]
    pub lan: Option<String>,
    /// How the logs on stderr are written: text, or json for a log collector
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InviteArgs {
    #[command(subcommand)]
    pub revoke: Option<InviteCommand>,
    /// A hub's address (with /p2p/) to put in the invite
    #[arg(long, value_name = "MULTIADDR")]
    pub hub: Vec<String>,
    /// Also print the invite as a QR code
    #[arg(long)]
    pub qr: bool,
    /// How long the invite is good for (like 48h, 7d) [default: 7d]
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// How many people may join with it [default: 1]
    #[arg(long, value_name = "N")]
    pub uses: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Withdraw an unused invite
    Revoke {
        /// The invite line (kith:…) or its id
        invite: String,
    },
}

#[derive(Debug, Args)]
pub struct PostArgs {
    pub title: String,
    #[arg(long, default_value = "")]
    pub details: String,
    #[arg(long, default_value = "")]
    pub category: String,
}

#[derive(Debug, Args)]
pub struct GatheringArgs {
    pub title: String,
    /// When it happens, in words ("Thursdays 2pm")
    #[arg(long)]
    pub when: String,
    #[arg(long, default_value = "")]
    pub place: String,
    #[arg(long, default_value = "")]
    pub details: String,
    #[arg(long, default_value = "")]
    pub category: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Offer,
    Request,
    Gathering,
}

#[derive(Debug, Args)]
pub struct BoardArgs {
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub search: Option<String>,
    /// Every status, not only open posts
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct PayArgs {
    /// The member: a name, an id or the first digits of one
    pub member: String,
    /// Like 1h, 90m, 1h30m, 1.5h
    pub duration: String,
    /// The post this pays for
    #[arg(long = "for", value_name = "POST")]
    pub for_post: Option<String>,
    #[arg(long, default_value = "")]
    pub memo: String,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value = "")]
    pub about: String,
    #[arg(long, default_value = "")]
    pub area: String,
    /// A skill (repeat for several)
    #[arg(long = "skill")]
    pub skills: Vec<String>,
    #[arg(long, default_value = "")]
    pub contact: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}
