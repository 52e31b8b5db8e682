//! Talking to the running node: finds it through `api.json` in the home, sends one JSON
//! request with the token, and turns the answer into an [`Answer`] or an error that says
//! what is wrong in the node's own words.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::http::Response;

use kith_node::api::helped;
use kith_node::api::wire::{Created, ErrorBody, Export, LoginLink};
use kith_node::home::{ApiInfo, Home};

use crate::args::ExportFormat;
use crate::output::Answer;
use crate::validate::{ApiCall, BoardFilter};

/// How long to wait for the node to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one whole request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A running node's API.
#[derive(Debug)]
pub struct Client {
    info: ApiInfo,
    home: String,
    agent: ureq::Agent,
    /// `--as MEMBER`: writes go to this helped member's log.
    acting_as: Option<String>,
}

fn no_node(home: &str) -> anyhow::Error {
    anyhow!("no node is running for home {home} — start it with `kith run`")
}

impl Client {
    /// Finds the node of `home` (no request is made yet).
    pub fn connect(home: &Home) -> Result<Client> {
        let shown = home.dir().display().to_string();
        let info = home.api_info()?.ok_or_else(|| no_node(&shown))?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .new_agent();
        Ok(Client { info, home: shown, agent, acting_as: None })
    }

    /// Acts for a helped member held in the home (`--as MEMBER`) in the writes it sends.
    pub fn acting_as(mut self, member: Option<String>) -> Client {
        self.acting_as = member;
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/{path}", self.info.url.trim_end_matches('/'))
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.info.token)
    }

    fn get_raw(&self, path: &str, query: &[(&str, String)]) -> Result<Response<ureq::Body>> {
        let mut request = self.agent.get(self.url(path)).header("Authorization", self.bearer());
        for (key, value) in query {
            request = request.query(*key, value);
        }
        self.answered(request.call())
    }

    fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let mut response = self.get_raw(path, query)?;
        response.body_mut().read_json().context("the node's answer could not be read")
    }

    fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let mut request = self.agent.post(self.url(path)).header("Authorization", self.bearer());
        if let Some(member) = &self.acting_as {
            request = request.header(helped::ACTING_FOR_HEADER, helped::encode_acting_for(member));
        }
        let mut response = self.answered(request.send_json(body))?;
        response.body_mut().read_json().context("the node's answer could not be read")
    }

    /// A response with a 2xx status, or the error the node gave.
    fn answered(&self, sent: Result<Response<ureq::Body>, ureq::Error>) -> Result<Response<ureq::Body>> {
        let mut response = match sent {
            Ok(response) => response,
            Err(ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound) => {
                return Err(no_node(&self.home));
            }
            Err(ureq::Error::Timeout(_)) => bail!("the node for home {} did not answer in time", self.home),
            Err(error) => return Err(anyhow!("cannot talk to the node for home {}: {error}", self.home)),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.as_u16() == 401 {
            bail!(
                "the node at {} refused the token in {}/api.json — is it another node's? restart `kith run`",
                self.info.url,
                self.home
            );
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(anyhow!(body.error)),
            Err(_) => Err(anyhow!("the node answered {status}")),
        }
    }

    /// A one-time link that signs a browser in to the node's web page.
    pub fn login_link(&self) -> Result<LoginLink> {
        self.post("login-links", &serde_json::json!({}))
    }

    /// Makes one call and returns what to print.
    pub fn call(&self, call: ApiCall) -> Result<Answer> {
        Ok(match call {
            ApiCall::Status => Answer::Status(self.get("status", &[])?),
            ApiCall::LoginLink => Answer::LoginLink(self.login_link()?),
            ApiCall::Pair => Answer::Pairing(self.post("pairings", &serde_json::json!({}))?),
            ApiCall::Invite { request, qr } => Answer::Invite { invite: self.post("invites", &request)?, qr },
            ApiCall::InviteRevoke(revoke) => Answer::Id(self.post("invites/revoke", &revoke)?),
            ApiCall::Peers => Answer::Peers(self.get("peers", &[])?),
            ApiCall::Post(new) => Answer::Id(self.post("posts", &new)?),
            ApiCall::Board(filter) => Answer::Board(self.get("posts", &board_query(filter))?),
            ApiCall::Show { post } => Answer::Post(Box::new(self.get(&format!("posts/{post}"), &[])?)),
            ApiCall::Reply { post, reply } => Answer::Id(self.post(&format!("posts/{post}/replies"), &reply)?),
            ApiCall::SetStatus { post, status } => {
                Answer::Quiet(self.post::<_, Created>(&format!("posts/{post}/status"), &status)?)
            }
            ApiCall::Pay(transfer) => Answer::Id(self.post("transfers", &transfer)?),
            ApiCall::Balance { member } => Answer::Balance(self.get("balance", &member_query(member))?),
            ApiCall::Statement { member } => Answer::Statement(self.get("statement", &member_query(member))?),
            ApiCall::Members { pending } => Answer::Members(self.get("members", &[("pending", pending.to_string())])?),
            ApiCall::Vouch(vouch) => Answer::Quiet(self.post("vouches", &vouch)?),
            ApiCall::AddHelped(new) => Answer::Id(self.post("helped", &new)?),
            ApiCall::MoveHelped(new) => Answer::Id(self.post("helped/helper", &new)?),
            ApiCall::TakeHelped(taken) => Answer::Id(self.post("helped/take", &taken)?),
            ApiCall::Profile(profile) => Answer::Quiet(self.post("profile", &profile)?),
            ApiCall::Suspend(suspension) => Answer::Quiet(self.post("suspensions", &suspension)?),
            ApiCall::Appoint(appointment) => Answer::Quiet(self.post("appointments", &appointment)?),
            ApiCall::Reinstate(reinstatement) => Answer::Quiet(self.post("reinstatements", &reinstatement)?),
            ApiCall::Dismiss(dismissal) => Answer::Quiet(self.post("dismissals", &dismissal)?),
            ApiCall::Announce(new) => Answer::Id(self.post("announcements", &new)?),
            ApiCall::BoardPrint => {
                let mut response = self.get_raw("board/print", &[])?;
                Answer::Text(response.body_mut().read_to_string().context("the printed board could not be read")?)
            }
            ApiCall::Announcements => Answer::Announcements(self.get("announcements", &[])?),
            ApiCall::Report { from_ms, to_ms, csv } => {
                let mut query = Vec::new();
                if let Some(from) = from_ms {
                    query.push(("from", from.to_string()));
                }
                if let Some(to) = to_ms {
                    query.push(("to", to.to_string()));
                }
                if csv {
                    query.push(("format", "csv".to_string()));
                    let mut response = self.get_raw("report", &query)?;
                    Answer::Text(response.body_mut().read_to_string().context("the node's report could not be read")?)
                } else {
                    Answer::Report(Box::new(self.get("report", &query)?))
                }
            }
            ApiCall::Come { post, come } => Answer::Quiet(self.post(&format!("posts/{post}/come"), &come)?),
            ApiCall::Renew { post } => {
                Answer::Quiet(self.post(&format!("posts/{post}/renew"), &serde_json::json!({}))?)
            }
            ApiCall::Calendar { post } => {
                let mut response = self.get_raw(&format!("posts/{post}/calendar"), &[])?;
                Answer::Text(response.body_mut().read_to_string().context("the node's calendar could not be read")?)
            }
            ApiCall::Inbox { all } => Answer::Inbox(self.get("inbox", &[("all", all.to_string())])?),
            ApiCall::InboxRead(read) => Answer::Quiet(self.post("inbox/read", &read)?),
            ApiCall::CheckIns(checkins) => Answer::Quiet(self.post("checkins", &checkins)?),
            ApiCall::CheckIn => Answer::Quiet(self.post("checkin", &serde_json::json!({}))?),
            ApiCall::CalendarFeed => {
                let feed: kith_node::api::wire::CalendarFeed = self.get("calendar", &[])?;
                Answer::Feed(feed)
            }
            ApiCall::Export { format, out } => {
                let text = match format {
                    ExportFormat::Json => {
                        let document: Export = self.get("export", &[("format", "json".into())])?;
                        serde_json::to_string_pretty(&document)? + "\n"
                    }
                    ExportFormat::Csv => {
                        let mut response = self.get_raw("export", &[("format", "csv".into())])?;
                        response.body_mut().read_to_string().context("the node's export could not be read")?
                    }
                };
                match out {
                    Some(path) => {
                        write_export(&path, &text)?;
                        Answer::Written(path)
                    }
                    None => Answer::Text(text),
                }
            }
        })
    }
}

fn board_query(filter: BoardFilter) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(kind) = filter.kind {
        query.push(("kind", kind.to_string()));
    }
    if let Some(category) = filter.category {
        query.push(("category", category));
    }
    if let Some(search) = filter.search {
        query.push(("search", search));
    }
    if filter.all {
        query.push(("all", "true".to_string()));
    }
    query
}

fn member_query(member: Option<String>) -> Vec<(&'static str, String)> {
    member.map(|m| vec![("member", m)]).unwrap_or_default()
}

fn write_export(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
