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
    /// Act for a helped member whose key this home holds: their name (any case, any script) or
    /// id (commands that write; `key backup`)
    #[arg(long = "as", global = true, value_name = "MEMBER")]
    pub acting_as: Option<String>,
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
    /// Rebuild the views (board, profiles, statements) from the stored entries; the node must be stopped
    Repair,
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
    /// Add a helped member, move one to another helper, or take one over
    #[command(subcommand)]
    Member(MemberArgs),
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
    /// Organisers: a notice to everyone, at the top of the board until it ends; prints its id
    Announce {
        title: String,
        #[arg(long, default_value = "")]
        text: String,
        /// Last day it is shown, like 2026-12-24 (UTC) [default: the community's post lifetime]
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
    },
    /// The organisers' current notices, newest first
    Announcements,
    /// Organisers: how the community is doing over a period (default: the last 30 days)
    Report(ReportArgs),
    /// Organisers: hide a member's posts and cut them off
    Suspend {
        member: String,
        #[arg(long)]
        reason: String,
    },
    /// Organisers: end a member's suspension (what they write from now on counts again)
    Reinstate { member: String },
    /// Founder: remove an organiser's role (their moderation from now on counts for nothing)
    Dismiss { member: String },
    /// Founder and organisers: make a member an organiser (or admit a hub node)
    Appoint {
        member: String,
        /// Admit a hub node instead
        #[arg(long)]
        hub: bool,
    },
    /// "I'll come" to a gathering (or, with --no, "I can't come after all")
    Come {
        post: String,
        /// One date of a repeating gathering (like 2026-12-11) instead of every date
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
        /// "I can't come after all"
        #[arg(long)]
        no: bool,
    },
    /// A gathering as iCalendar text, or (--feed) the address of your calendar feed
    Calendar {
        /// The gathering
        #[arg(required_unless_present = "feed")]
        post: Option<String>,
        /// The secret address of a calendar of the gatherings you are coming to
        #[arg(long, conflicts_with = "post")]
        feed: bool,
    },
    /// Keep your post on the board for another lifetime
    Renew { post: String },
    /// What needs you: replies, people coming, hours, newcomers, matches (unread, newest first)
    Inbox(InboxArgs),
    /// "I'm fine today" (for neighbours who asked to be checked on)
    Checkin,
    /// Ask to be checked on: if you are quiet for N days, your buddies and the organisers are told
    #[command(subcommand)]
    Checkins(CheckinsArgs),
    /// Print the shell completion script for bash, zsh or fish
    Completions {
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Print the man page (roff), for `man -l -` or a man folder
    Manpage,
}

#[derive(Debug, Subcommand)]
pub enum CheckinsArgs {
    /// Turn check-ins on: everyone in the community can see that you asked and who your buddies are
    On {
        /// After how many quiet days
        #[arg(long, value_name = "N")]
        days: u16,
        /// A neighbour to tell (repeat for several, at most 5)
        #[arg(long = "buddy", value_name = "MEMBER", required = true)]
        buddies: Vec<String>,
    },
    /// Turn check-ins off
    Off,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InboxArgs {
    #[command(subcommand)]
    pub read: Option<InboxCommand>,
    /// Read items too
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Mark an item read (on this computer only)
    Read {
        /// The item's id (as `kith inbox --json` gives it)
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Every item
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
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
pub enum MemberArgs {
    /// A neighbour without a computer: their key lives in this home and you record for them
    /// (`--as NAME`); prints their id, then members vouch for them as usual
    Add {
        /// Their name, as the community will see it
        #[arg(long, value_name = "NAME")]
        helped: String,
        /// The most a payment you make for them may be (they agree it) [default: 2h]
        #[arg(long, value_name = "DURATION")]
        limit: Option<String>,
    },
    /// Move a helped member held here to another helper; prints the entry's id
    ///
    /// Writes the new helper in their log: the last entry this home writes for them. Then give
    /// the new helper their key: `kith key backup --as NAME` here, `kith member take` on the new
    /// helper's home.
    Helper {
        /// The helped member (their name or id)
        name: String,
        /// Their new helper, a member
        #[arg(long, value_name = "MEMBER")]
        to: String,
        /// The most a payment made for them may be from now on [default: as agreed before]
        #[arg(long, value_name = "DURATION")]
        limit: Option<String>,
    },
    /// Hold a helped member's key handed over by their previous helper; prints their id
    ///
    /// The words are those `kith key backup --as NAME` printed on the previous helper's home.
    /// This home records for them (`--as NAME`) once their log names you their helper.
    Take {
        /// The 24 words (read from stdin when none are given)
        words: Vec<String>,
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
    /// When it starts: 2026-12-04 14:00 (this computer's time zone) or RFC 3339
    #[arg(long, value_name = "DATETIME")]
    pub starts: Option<String>,
    /// When the first one ends (same forms as --starts)
    #[arg(long, value_name = "DATETIME", requires = "starts")]
    pub ends: Option<String>,
    /// How it repeats
    #[arg(long, value_enum, requires = "starts")]
    pub repeat: Option<RepeatArg>,
    /// The last date it repeats on (like 2027-03-25)
    #[arg(long, value_name = "DATE", requires = "repeat")]
    pub until: Option<String>,
    /// How many people there is room for
    #[arg(long, value_name = "N", requires = "starts")]
    pub capacity: Option<u32>,
    /// When it happens, in words ("Thursdays 2pm"), for a gathering without a start time
    #[arg(long, default_value = "")]
    pub when: String,
    #[arg(long, default_value = "")]
    pub place: String,
    #[arg(long, default_value = "")]
    pub details: String,
    #[arg(long, default_value = "")]
    pub category: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RepeatArg {
    Weekly,
    Fortnightly,
    Monthly,
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
    /// A printable A4 page (HTML) of the open posts and notices, each post with its short
    /// code, for a noticeboard: `kith board --print > board.html`
    #[arg(long, conflicts_with_all = ["kind", "category", "search", "all"])]
    pub print: bool,
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

/// Changes only the fields given (a first profile needs --name).
#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub about: Option<String>,
    #[arg(long)]
    pub area: Option<String>,
    /// A skill (repeat for several; replaces the skills listed before)
    #[arg(long = "skill")]
    pub skills: Vec<String>,
    /// Remove every skill
    #[arg(long, conflicts_with = "skills")]
    pub no_skills: bool,
    #[arg(long)]
    pub contact: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// First day (or time) included, like 2026-11-01 or 2026-11-01 09:00 (UTC) [default: 30 days before --to]
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Last day included (a time: up to it) [default: now]
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Print the report as CSV rows (section,item,value) for a spreadsheet
    #[arg(long)]
    pub csv: bool,
}
