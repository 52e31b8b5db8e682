//! Devices on the home network (`kith run --lan`): the pairing page a tablet sees until it
//! is paired (type the code, or open the QR code's link, and name the device), the page on
//! this computer that makes a code and lists the devices signed in ("Kitchen tablet — sign
//! out"), and the QR code drawn as SVG.

use std::net::SocketAddr;

use axum::Extension;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::html::{self, Nav, esc};
use super::{Gate, Session, WebState, frame, new_pairing, refusal};
use crate::clock::now_ms;

#[derive(Debug, Default, Deserialize)]
pub struct PairQuery {
    #[serde(default)]
    code: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct PairForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    device: String,
}

/// The pairing page: everything a device on the home network sees before it is paired.
fn pair_page(code: &str, problem: Option<&str>) -> String {
    let problem = problem.map(|p| format!("<p class=\"problem\" role=\"alert\">{}</p>", esc(p))).unwrap_or_default();
    let main = format!(
        "<h1>Pair this device with Kith</h1>\n{problem}\
<p>On the computer where Kith runs, open Kith's page and choose <strong>Pair a device</strong> \
(or type <code>kith pair</code>). Type the code it shows here, and give this device a name.</p>\n\
<form method=\"post\" action=\"/pair\">\
<div class=\"field\"><label for=\"f-code\">Pairing code</label>\
<input id=\"f-code\" name=\"code\" value=\"{code}\" autocomplete=\"one-time-code\" autocapitalize=\"characters\" \
spellcheck=\"false\" maxlength=\"20\" required></div>\
<div class=\"field\"><label for=\"f-device\">A name for this device</label>\
<input id=\"f-device\" name=\"device\" placeholder=\"Kitchen tablet\" maxlength=\"60\" required></div>\
<button type=\"submit\">Pair this device</button></form>",
        code = esc(code.trim()),
    );
    html::bare("Pair this device", &main)
}

/// `GET /pair` (home network): the form, the code filled in from the QR code's link.
pub async fn pair_form(Query(query): Query<PairQuery>) -> Response {
    (StatusCode::UNAUTHORIZED, Html(pair_page(&query.code, None))).into_response()
}

/// `POST /pair` (home network): a right code opens a session bound to this device's address.
pub async fn pair(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PairForm>,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if !state.gate.is_lan() || !state.gate.origin_allowed(origin, host) {
        return refusal(StatusCode::FORBIDDEN, "That came from another website", "Nothing was changed.");
    }
    match state.gate.redeem_pairing(&form.code, &form.device, peer.ip(), now_ms()) {
        Ok(Some(session)) => {
            tracing::info!(device = %form.device.trim(), from = %peer.ip(), "a device paired on the home network");
            let mut response = Redirect::to("/").into_response();
            if let Ok(cookie) = HeaderValue::from_str(&state.gate.set_cookie(&session)) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            Html(pair_page(
                "",
                Some("That code did not work. Codes work once, for 10 minutes: make a new one and try again."),
            )),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot pair a device");
            refusal(StatusCode::INTERNAL_SERVER_ERROR, "Kith could not pair this device", "Please try again.")
        }
    }
}

/// `GET /devices`: the devices signed in on the home network, each with "sign out", and (on
/// this computer) the button that makes a pairing code.
pub async fn list(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let frame = frame(&state, &session).await;
    let mut main = String::from("<h1>Devices on your home network</h1>");
    let Some(lan) = &state.lan else {
        main.push_str(
            "<p>Kith's page is on this computer only. To use it on a tablet or phone at home, start Kith with \
<code>kith run --lan</code>.</p>",
        );
        return Html(html::layout(&frame, "Devices", Nav::Devices, &main)).into_response();
    };
    main.push_str(&devices_section(lan, &frame.csrf));
    if !state.gate.is_lan() {
        main.push_str(&format!(
            "<form method=\"post\" action=\"/devices/pair\">{}<button type=\"submit\">Pair a device</button></form>",
            html::csrf_input(&frame.csrf)
        ));
    }
    Html(html::layout(&frame, "Devices", Nav::Devices, &main)).into_response()
}

fn devices_section(lan: &Gate, csrf: &str) -> String {
    let devices = lan.devices();
    let mut out = String::from("<section aria-labelledby=\"h-devices\"><h2 id=\"h-devices\">Devices signed in</h2>");
    if devices.is_empty() {
        out.push_str("<p class=\"empty\">No device is signed in.</p>");
    } else {
        out.push_str("<ul class=\"devices\">");
        for device in devices {
            out.push_str(&format!(
                "<li><span class=\"device-name\">{name}</span> — <form class=\"inline\" method=\"post\" \
action=\"/devices/{key}/end\">{csrf}<button type=\"submit\" class=\"button-secondary\" \
aria-label=\"Sign out {name}\">Sign out</button></form></li>",
                name = esc(&device.name),
                key = esc(&device.key),
                csrf = html::csrf_input(csrf),
            ));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
    out
}

/// `POST /devices/pair` (this computer only): a new code, its link and QR code.
pub async fn make_code(State(state): State<WebState>, Extension(session): Extension<Session>) -> Response {
    let frame = frame(&state, &session).await;
    let (Some(lan), false) = (&state.lan, state.gate.is_lan()) else {
        return refusal(
            StatusCode::FORBIDDEN,
            "Pairing starts at home",
            "Make a pairing code on the computer where Kith runs.",
        );
    };
    let pairing = match new_pairing(&state.node, lan).await {
        Ok(pairing) => pairing,
        Err(error) => {
            tracing::error!(%error, "cannot make a pairing code");
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, "Kith could not make a code", "Please try again.");
        }
    };
    let main = format!(
        "<h1>Pair a device</h1>\n<p>On the tablet or phone, scan this code with the camera, or open \
<a href=\"{url}\">{url_text}</a> and type the code:</p>\n<p class=\"pairing-code\"><strong>{code}</strong></p>\n\
<div class=\"qr\">{svg}</div>\n<p>The code works once, within 10 minutes.</p>\n<p><a href=\"/devices\">Back to devices</a></p>",
        url = esc(&pairing.url),
        url_text = esc(&pairing.base),
        code = esc(&pairing.code),
        svg = qr_svg(&pairing.url),
    );
    Html(html::layout(&frame, "Pair a device", Nav::Devices, &main)).into_response()
}

/// `POST /devices/{key}/end`: signs a paired device out.
pub async fn end(State(state): State<WebState>, Path(key): Path<String>) -> Response {
    if let Some(lan) = &state.lan {
        lan.end_device(&key);
    }
    Redirect::to("/devices").into_response()
}

/// A QR code as an SVG image (dark squares on white, with its quiet zone), or a note when the
/// text is too long for one.
pub fn qr_svg(text: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(text.as_bytes()) else {
        return "<p>(The link is too long for a QR code: type the code instead.)</p>".to_string();
    };
    let width = code.width();
    let size = width + 8;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            path.push_str(&format!("M{} {}h1v1h-1z", i % width + 4, i / width + 4));
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"240\" height=\"240\" \
role=\"img\" aria-label=\"QR code of the pairing link\" shape-rendering=\"crispEdges\">\
<rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg_of_dark_squares() {
        let svg = qr_svg("http://192.168.1.20:7475/pair?code=K7QM4TXP");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.matches('z').count() > 100, "many dark modules");
    }

    #[test]
    fn the_pairing_page_asks_for_a_code_and_a_name_and_escapes() {
        let page = pair_page("<b>", Some("That code did not work."));
        assert!(page.contains("name=\"code\"") && page.contains("name=\"device\""));
        assert!(page.contains("&lt;b&gt;") && !page.contains("<b>"));
    }
}
