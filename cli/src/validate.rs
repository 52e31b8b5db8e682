//! Raw arguments to commands that can run: durations parsed, texts checked against the
//! protocol's own bounds (by building the entry body and asking `kith-protocol` to check its
//! fields), invites decoded. Everything refused here is a usage error (exit 2) and nothing
//! has been sent to the node.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use kith_node::api::wire::{
    NewAppointment, NewCheckIns, NewCome, NewDismissal, NewInvite, NewPost, NewProfile, NewRead, NewReinstatement,
    NewReply, NewSchedule, NewStatus, NewSuspension, NewTransfer, NewVouch, RevokeInvite,
};
use kith_node::invite::Invite;
use kith_protocol::{Body, EntryHash, MemberId, Minutes, PostKind, Rules};

use crate::args::{
    BoardArgs, CheckinsArgs, CommandArgs, CommunityArgs, ExportFormat, GatheringArgs, InboxCommand, InviteCommand,
    KeyArgs, KindArg, MemberArgs, RepeatArg, RunArgs, ShellArg,
};

/// Bad input on the command line: exit code 2, nothing done.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// A command, checked.
#[derive(Debug)]
pub enum Command {
    Init {
        name: Option<String>,
    },
    CommunityCreate {
        name: String,
        description: String,
        rules: Rules,
    },
    Join {
        invite: Invite,
        text: String,
        name: Option<String>,
    },
    KeyBackup,
    KeyRestore {
        words: Vec<String>,
    },
    /// `kith member take`: the words become the key sent to the node.
    MemberTake {
        words: Vec<String>,
    },
    Repair,
    Run(RunOptions),
    Api(ApiCall),
    /// Generated from the clap definitions; needs no home.
    Completions(ShellArg),
    Manpage,
}

#[derive(Debug)]
pub struct RunOptions {
    pub listen: Vec<libp2p::Multiaddr>,
    pub bootstrap: Vec<libp2p::Multiaddr>,
    /// `None`: the default port if free, else any.
    pub api: Option<SocketAddr>,
    pub mdns: bool,
    /// Run as a community hub.
    pub hub: bool,
    /// Overrides the node's periodic sync round (hidden; tests).
    pub sync_interval: Option<std::time::Duration>,
    /// Serve the page on the home network too, at this address (`--lan`).
    pub lan: Option<SocketAddr>,
}

/// A call to the running node's API.
#[derive(Debug)]
pub enum ApiCall {
    Status,
    /// `kith open`: a one-time link that signs the browser in to the web page.
    LoginLink,
    /// `kith pair`: a one-time code for a device on the home network.
    Pair,
    Invite {
        request: NewInvite,
        qr: bool,
    },
    InviteRevoke(RevokeInvite),
    Peers,
    Post(NewPost),
    Board(BoardFilter),
    Show {
        post: String,
    },
    Reply {
        post: String,
        reply: NewReply,
    },
    SetStatus {
        post: String,
        status: NewStatus,
    },
    Pay(NewTransfer),
    Balance {
        member: Option<String>,
    },
    Statement {
        member: Option<String>,
    },
    Members {
        pending: bool,
    },
    Vouch(NewVouch),
    Profile(NewProfile),
    Export {
        format: ExportFormat,
        out: Option<PathBuf>,
    },
    Suspend(NewSuspension),
    Appoint(NewAppointment),
    Reinstate(NewReinstatement),
    Dismiss(NewDismissal),
    Announce(kith_node::api::announce::NewAnnouncement),
    Announcements,
    /// `kith board --print`: the printable board's HTML.
    BoardPrint,
    /// `kith report`: the period in ms since the epoch, as CSV or not.
    Report {
        from_ms: Option<u64>,
        to_ms: Option<u64>,
        csv: bool,
    },
    Come {
        post: String,
        come: NewCome,
    },
    /// A gathering as iCalendar text.
    Calendar {
        post: String,
    },
    /// The address of this member's calendar feed.
    CalendarFeed,
    Renew {
        post: String,
    },
    Inbox {
        all: bool,
    },
    InboxRead(NewRead),
    CheckIns(NewCheckIns),
    CheckIn,
    /// `kith member add --helped NAME`.
    AddHelped(kith_node::api::helped::NewHelped),
    /// `kith member helper NAME --to MEMBER`.
    MoveHelped(kith_node::api::helped::NewHelper),
    /// `kith member take`.
    TakeHelped(kith_node::api::helped::TakeHelped),
}

#[derive(Debug, Default)]
pub struct BoardFilter {
    pub kind: Option<&'static str>,
    pub category: Option<String>,
    pub search: Option<String>,
    pub all: bool,
}

/// A placeholder id for checking a body's text fields before the real one is known.
const ANY_MEMBER: MemberId = MemberId([0; 32]);
const ANY_ENTRY: EntryHash = EntryHash([0; 32]);

/// Asks the protocol whether a body's fields are within bounds.
fn check(body: &Body) -> Result<(), UsageError> {
    body.check_fields().map_err(|e| usage(e.to_string()))
}

fn profile(name: &str) -> Body {
    Body::Profile {
        name: name.to_string(),
        about: String::new(),
        area: String::new(),
        skills: Vec::new(),
        contact: String::new(),
    }
}

/// A duration as people write it (`1h30m`), refused with the protocol's explanation.
pub fn duration(text: &str) -> Result<Minutes, UsageError> {
    text.parse::<Minutes>().map_err(|e| usage(e.to_string()))
}

/// `7d` or a duration: for how long an invite lasts.
fn days_or_duration(text: &str) -> Result<Minutes, UsageError> {
    if let Some(days) = text.trim().strip_suffix(['d', 'D'])
        && let Ok(days) = days.parse::<u32>()
    {
        if days == 0 {
            return Err(usage("a duration must be more than zero"));
        }
        return Ok(Minutes(days.saturating_mul(24 * 60)));
    }
    duration(text)
}

/// A post named on the command line: its id or the first digits of it.
fn post_ref(text: &str) -> Result<String, UsageError> {
    let text = text.trim();
    let hex = !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        return Ok(text.to_ascii_lowercase());
    }
    match kith_protocol::shortcode::normalise(text) {
        // A code goes as typed-then-normalised; the node tells it from a hex prefix.
        Some(code) => Ok(code),
        None => Err(usage(format!(
            "`{text}` is not a post id: name a post by its id, the first digits of it (0-9, a-f) or its short code"
        ))),
    }
}

/// A member named on the command line: a name, an id or the first digits of one.
fn member_ref(text: &str) -> Result<String, UsageError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(usage("no member given: name one by name or id"));
    }
    Ok(text.to_string())
}

fn multiaddrs(texts: &[String], what: &str) -> Result<Vec<libp2p::Multiaddr>, UsageError> {
    texts
        .iter()
        .map(|t| {
            t.parse().map_err(|e| usage(format!("`{t}` is not a {what} multiaddr (like /ip4/1.2.3.4/tcp/4001): {e}")))
        })
        .collect()
}

fn post(
    kind: PostKind,
    title: String,
    details: String,
    category: String,
    when: String,
    place: String,
) -> Result<ApiCall, UsageError> {
    let new = NewPost {
        kind: kind.as_str().to_string(),
        title: title.trim().to_string(),
        details,
        category: category.trim().to_string(),
        when: when.trim().to_string(),
        place: place.trim().to_string(),
        expires_at_ms: None,
        schedule: None,
    };
    check(&Body::Post {
        kind,
        title: new.title.clone(),
        details: new.details.clone(),
        category: new.category.clone(),
        when: new.when.clone(),
        place: new.place.clone(),
        expires_at: None,
        schedule: None,
    })?;
    Ok(ApiCall::Post(new))
}

/// A gathering: with a start time (`--starts`, checked by the protocol's own schedule rules)
/// or, as before, with `--when` in words.
fn gathering(g: GatheringArgs) -> Result<ApiCall, UsageError> {
    let Some(starts) = g.starts else {
        if g.when.trim().is_empty() {
            return Err(usage(
                "a gathering needs --starts (like \"2026-12-04 14:00\") or --when (like \"Thursdays 2pm\")",
            ));
        }
        return post(PostKind::Gathering, g.title, g.details, g.category, g.when, g.place);
    };
    let starts_at_ms = kith_node::when::parse_date_time(&starts).map_err(usage)?;
    let ends_at_ms = g.ends.as_deref().map(kith_node::when::parse_date_time).transpose().map_err(usage)?;
    let until = g.until.as_deref().map(kith_node::when::parse_day).transpose().map_err(usage)?;
    let repeat = g.repeat.map(|r| match r {
        RepeatArg::Weekly => kith_protocol::Repeat::Weekly,
        RepeatArg::Fortnightly => kith_protocol::Repeat::Fortnightly,
        RepeatArg::Monthly => kith_protocol::Repeat::Monthly,
    });
    let schedule = kith_protocol::Schedule {
        starts_at: starts_at_ms,
        ends_at: ends_at_ms,
        offset_minutes: kith_node::when::offset_minutes(starts_at_ms),
        repeat,
        until,
        capacity: g.capacity,
    };
    schedule.check().map_err(|e| usage(e.to_string()))?;
    let ApiCall::Post(mut new) = post(PostKind::Gathering, g.title, g.details, g.category, g.when, g.place)? else {
        return Err(usage("a gathering could not be made"));
    };
    new.schedule = Some(NewSchedule {
        starts_at_ms,
        ends_at_ms,
        repeat: repeat.map(|r| r.as_str().to_string()),
        until: until.map(kith_node::when::day_text),
        capacity: g.capacity,
    });
    Ok(ApiCall::Post(new))
}

fn community_rules(credit_limit: Option<String>, vouches: Option<u8>) -> Result<Rules, UsageError> {
    let mut rules = Rules::default();
    if let Some(limit) = credit_limit {
        rules.credit_limit = match limit.trim().parse::<u32>() {
            Ok(hours) => Minutes::from_hours(hours),
            Err(_) => duration(&limit)?,
        };
    }
    if let Some(vouches) = vouches {
        rules.vouches_needed = vouches;
    }
    Ok(rules)
}

fn run_options(args: RunArgs) -> Result<Command, UsageError> {
    let lan = match &args.lan {
        Some(text) => Some(
            text.trim()
                .parse::<SocketAddr>()
                .map_err(|_| usage(format!("--lan takes an address and port like 0.0.0.0:7475, not {text:?}")))?,
        ),
        None => None,
    };
    let sync_interval = match &args.sync_interval {
        Some(text) => {
            // Seconds (`2s`) as well as the usual durations (`1m`, `1h`).
            let seconds = match text.trim().strip_suffix('s').and_then(|s| s.parse::<u64>().ok()) {
                Some(seconds) => seconds,
                None => u64::from(duration(text)?.0) * 60,
            };
            if seconds == 0 {
                return Err(usage("the sync interval must be at least one second"));
            }
            Some(std::time::Duration::from_secs(seconds))
        }
        None => None,
    };
    let api = args
        .api
        .map(|a| {
            a.parse::<SocketAddr>().map_err(|e| usage(format!("`{a}` is not an address like 127.0.0.1:7474: {e}")))
        })
        .transpose()?;
    if let Some(addr) = api
        && !addr.ip().is_loopback()
    {
        return Err(usage(format!("the API only listens on loopback (127.0.0.1 or ::1), not {addr}")));
    }
    Ok(Command::Run(RunOptions {
        listen: multiaddrs(&args.listen, "listen")?,
        bootstrap: multiaddrs(&args.bootstrap, "bootstrap")?,
        api,
        mdns: !args.no_mdns,
        hub: args.hub,
        sync_interval,
        lan,
    }))
}

fn board(args: BoardArgs) -> BoardFilter {
    let kind = args.kind.map(|k| match k {
        KindArg::Offer => PostKind::Offer.as_str(),
        KindArg::Request => PostKind::Request.as_str(),
        KindArg::Gathering => PostKind::Gathering.as_str(),
    });
    BoardFilter { kind, category: args.category, search: args.search, all: args.all }
}

/// Checks raw arguments and turns them into a command.
pub fn command(args: CommandArgs) -> Result<Command, UsageError> {
    let api = |call| Ok(Command::Api(call));
    match args {
        CommandArgs::Init { name } => {
            if let Some(name) = &name {
                check(&profile(name))?;
            }
            Ok(Command::Init { name: name.map(|n| n.trim().to_string()) })
        }
        CommandArgs::Community(CommunityArgs::Create { name, credit_limit, vouches, description }) => {
            let rules = community_rules(credit_limit, vouches)?;
            let name = name.trim().to_string();
            check(&Body::Genesis { name: name.clone(), description: description.clone(), rules })?;
            Ok(Command::CommunityCreate { name, description, rules })
        }
        CommandArgs::Join { invite, name } => {
            let decoded = Invite::decode(&invite).map_err(|e| usage(e.to_string()))?;
            if let Some(name) = &name {
                check(&profile(name))?;
            }
            Ok(Command::Join {
                invite: decoded,
                text: invite.trim().to_string(),
                name: name.map(|n| n.trim().to_string()),
            })
        }
        CommandArgs::Key(KeyArgs::Backup) => Ok(Command::KeyBackup),
        CommandArgs::Key(KeyArgs::Restore { words }) => Ok(Command::KeyRestore { words }),
        CommandArgs::Run(run) => run_options(run),
        CommandArgs::Completions { shell } => Ok(Command::Completions(shell)),
        CommandArgs::Manpage => Ok(Command::Manpage),
        CommandArgs::Open => api(ApiCall::LoginLink),
        CommandArgs::Pair => api(ApiCall::Pair),
        CommandArgs::Status => api(ApiCall::Status),
        CommandArgs::Repair => Ok(Command::Repair),
        CommandArgs::Invite(invite) => {
            if let Some(InviteCommand::Revoke { invite }) = invite.revoke {
                kith_node::api::invite_id(&invite).map_err(usage)?;
                return api(ApiCall::InviteRevoke(RevokeInvite { invite: invite.trim().to_string() }));
            }
            multiaddrs(&invite.hub, "hub")?;
            let expires = invite.expires.as_deref().map(days_or_duration).transpose()?;
            if invite.uses == Some(0) {
                return Err(usage("an invite must allow at least one use"));
            }
            let request = NewInvite { hubs: invite.hub, expires_in_minutes: expires.map(|m| m.0), uses: invite.uses };
            api(ApiCall::Invite { request, qr: invite.qr })
        }
        CommandArgs::Peers => api(ApiCall::Peers),
        CommandArgs::Offer(p) => {
            api(post(PostKind::Offer, p.title, p.details, p.category, String::new(), String::new())?)
        }
        CommandArgs::Request(p) => {
            api(post(PostKind::Request, p.title, p.details, p.category, String::new(), String::new())?)
        }
        CommandArgs::Gathering(g) => api(gathering(g)?),
        CommandArgs::Come { post, date, no } => {
            let post = post_ref(&post)?;
            if let Some(date) = &date {
                kith_node::when::parse_day(date).map_err(usage)?;
            }
            api(ApiCall::Come { post, come: NewCome { date: date.map(|d| d.trim().to_string()), coming: !no } })
        }
        CommandArgs::Board(b) if b.print => api(ApiCall::BoardPrint),
        CommandArgs::Calendar { post: Some(post), feed: false } => api(ApiCall::Calendar { post: post_ref(&post)? }),
        CommandArgs::Calendar { .. } => api(ApiCall::CalendarFeed),
        CommandArgs::Renew { post } => api(ApiCall::Renew { post: post_ref(&post)? }),
        CommandArgs::Checkin => api(ApiCall::CheckIn),
        CommandArgs::Checkins(CheckinsArgs::Off) => {
            api(ApiCall::CheckIns(NewCheckIns { days: None, buddies: Vec::new() }))
        }
        CommandArgs::Checkins(CheckinsArgs::On { days, buddies }) => {
            let buddies = buddies.iter().map(|b| member_ref(b)).collect::<Result<Vec<_>, _>>()?;
            check(&Body::CheckIns { days: Some(days), buddies: vec![ANY_MEMBER; buddies.len()] })?;
            api(ApiCall::CheckIns(NewCheckIns { days: Some(days), buddies }))
        }
        CommandArgs::Inbox(inbox) => match inbox.read {
            Some(InboxCommand::Read { id, all }) => {
                let ids = id.map(|i| vec![i.trim().to_string()]).unwrap_or_default();
                api(ApiCall::InboxRead(NewRead { ids, all }))
            }
            None => api(ApiCall::Inbox { all: inbox.all }),
        },
        CommandArgs::Board(b) => api(ApiCall::Board(board(b))),
        CommandArgs::Show { post } => api(ApiCall::Show { post: post_ref(&post)? }),
        CommandArgs::Reply { post, text } => {
            let post = post_ref(&post)?;
            check(&Body::Reply { post: ANY_ENTRY, text: text.clone() })?;
            api(ApiCall::Reply { post, reply: NewReply { text } })
        }
        CommandArgs::Done { post } => {
            api(ApiCall::SetStatus { post: post_ref(&post)?, status: NewStatus { status: "done".into() } })
        }
        CommandArgs::Withdraw { post } => {
            api(ApiCall::SetStatus { post: post_ref(&post)?, status: NewStatus { status: "withdrawn".into() } })
        }
        CommandArgs::Pay(pay) => {
            let to = member_ref(&pay.member)?;
            let minutes = duration(&pay.duration)?;
            let for_post = pay.for_post.as_deref().map(post_ref).transpose()?;
            check(&Body::Transfer { to: ANY_MEMBER, minutes, memo: pay.memo.clone(), for_post: None })?;
            api(ApiCall::Pay(NewTransfer { to, minutes: minutes.0, memo: pay.memo, for_post }))
        }
        CommandArgs::Balance { member } => {
            api(ApiCall::Balance { member: member.as_deref().map(member_ref).transpose()? })
        }
        CommandArgs::Statement { member } => {
            api(ApiCall::Statement { member: member.as_deref().map(member_ref).transpose()? })
        }
        CommandArgs::Members { pending } => api(ApiCall::Members { pending }),
        CommandArgs::Member(MemberArgs::Add { helped, limit }) => {
            check(&profile(&helped))?;
            let limit = limit.as_deref().map(duration).transpose()?;
            if let Some(limit) = limit {
                check(&Body::Helped { helper: None, limit })?;
            }
            api(ApiCall::AddHelped(kith_node::api::helped::NewHelped {
                name: helped.trim().to_string(),
                limit_minutes: limit.map(|l| l.0),
            }))
        }
        CommandArgs::Member(MemberArgs::Helper { name, to, limit }) => {
            let limit = limit.as_deref().map(duration).transpose()?;
            if let Some(limit) = limit {
                check(&Body::Helped { helper: None, limit })?;
            }
            api(ApiCall::MoveHelped(kith_node::api::helped::NewHelper {
                member: member_ref(&name)?,
                to: member_ref(&to)?,
                limit_minutes: limit.map(|l| l.0),
            }))
        }
        CommandArgs::Member(MemberArgs::Take { words }) => Ok(Command::MemberTake { words }),
        CommandArgs::Vouch { member, note } => {
            let member = member_ref(&member)?;
            let note = note.unwrap_or_default();
            check(&Body::Vouch { member: ANY_MEMBER, note: note.clone() })?;
            api(ApiCall::Vouch(NewVouch { member, note }))
        }
        CommandArgs::Profile(p) => {
            let skills = if p.no_skills {
                Some(Vec::new())
            } else if p.skills.is_empty() {
                None
            } else {
                Some(p.skills.iter().map(|s| s.trim().to_string()).collect::<Vec<_>>())
            };
            let new = NewProfile {
                name: p.name.map(|n| n.trim().to_string()),
                about: p.about,
                area: p.area.map(|a| a.trim().to_string()),
                skills,
                contact: p.contact.map(|c| c.trim().to_string()),
            };
            if new.name.is_none()
                && new.about.is_none()
                && new.area.is_none()
                && new.skills.is_none()
                && new.contact.is_none()
            {
                return Err(usage("give at least one field to change: --name, --about, --area, --skill, --contact"));
            }
            // The fields given must each be within bounds (a stand-in name where none is given).
            check(&Body::Profile {
                name: new.name.clone().unwrap_or_else(|| "x".into()),
                about: new.about.clone().unwrap_or_default(),
                area: new.area.clone().unwrap_or_default(),
                skills: new.skills.clone().unwrap_or_default(),
                contact: new.contact.clone().unwrap_or_default(),
            })?;
            api(ApiCall::Profile(new))
        }
        CommandArgs::Export { format, out } => api(ApiCall::Export { format, out }),
        CommandArgs::Announcements => api(ApiCall::Announcements),
        CommandArgs::Announce { title, text, until } => {
            let until_ms = until
                .as_deref()
                .map(|t| {
                    kith_protocol::report::parse_date(t, true)
                        .ok_or_else(|| usage(format!("`{t}` is not a date: write it like 2026-12-24")))
                })
                .transpose()?;
            let (title, text) = (title.trim().to_string(), text.trim().to_string());
            check(&Body::Announcement { title: title.clone(), text: text.clone(), until: until_ms })?;
            api(ApiCall::Announce(kith_node::api::announce::NewAnnouncement { title, text, until_ms }))
        }
        CommandArgs::Report(report) => {
            let date = |text: &Option<String>, end_of_day: bool| -> Result<Option<u64>, UsageError> {
                text.as_deref()
                    .map(|t| {
                        kith_node::when::parse_report_date(t, end_of_day).map_err(|_| {
                            usage(format!("`{t}` is not a date: write it like 2026-11-01 or 2026-11-01 09:00"))
                        })
                    })
                    .transpose()
            };
            let (from_ms, to_ms) = (date(&report.from, false)?, date(&report.to, true)?);
            if let (Some(from), Some(to)) = (from_ms, to_ms)
                && from >= to
            {
                return Err(usage("--from must come before --to"));
            }
            api(ApiCall::Report { from_ms, to_ms, csv: report.csv })
        }
        CommandArgs::Suspend { member, reason } => {
            let member = member_ref(&member)?;
            check(&Body::Suspend { member: ANY_MEMBER, reason: reason.clone(), after_seq: 0 })?;
            api(ApiCall::Suspend(NewSuspension { member, reason }))
        }
        CommandArgs::Reinstate { member } => api(ApiCall::Reinstate(NewReinstatement { member: member_ref(&member)? })),
        CommandArgs::Dismiss { member } => api(ApiCall::Dismiss(NewDismissal { member: member_ref(&member)? })),
        CommandArgs::Appoint { member, hub } => {
            let role = if hub { "hub" } else { "organiser" };
            api(ApiCall::Appoint(NewAppointment { member: member_ref(&member)?, role: role.into() }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::PostArgs;

    fn offer(title: &str) -> Result<Command, UsageError> {
        command(CommandArgs::Offer(PostArgs { title: title.into(), details: String::new(), category: String::new() }))
    }

    #[test]
    fn refuses_bad_posts_with_the_protocols_words() {
        assert_eq!(offer("  ").err().map(|e| e.0), Some("the title must not be empty".to_string()));
        let long = offer(&"x".repeat(500)).err().map(|e| e.0).unwrap_or_default();
        assert!(long.contains("at most 120"), "{long}");
        assert!(matches!(offer("Lifts to the surgery"), Ok(Command::Api(ApiCall::Post(_)))));
    }

    #[test]
    fn reads_durations_and_invite_lifetimes() {
        assert_eq!(duration("1h30m").ok(), Some(Minutes(90)));
        assert!(duration("1x").is_err());
        assert_eq!(days_or_duration("2d").ok(), Some(Minutes(2 * 24 * 60)));
        assert_eq!(days_or_duration("48h").ok(), Some(Minutes(48 * 60)));
        assert!(days_or_duration("0d").is_err());
    }

    #[test]
    fn names_posts_by_hex_only() {
        assert_eq!(post_ref(" AB12 ").ok(), Some("ab12".to_string()));
        assert!(post_ref("lifts").is_err());
        assert_eq!(post_ref("7kq2").ok(), Some("7KQ2".to_string()), "a short code");
        assert!(post_ref("").is_err());
    }

    #[test]
    fn reads_credit_limits_in_hours_or_durations() {
        assert_eq!(community_rules(Some("2".into()), None).ok().map(|r| r.credit_limit), Some(Minutes(120)));
        assert_eq!(community_rules(Some("90m".into()), None).ok().map(|r| r.credit_limit), Some(Minutes(90)));
        assert!(community_rules(Some("lots".into()), None).is_err());
    }
}
