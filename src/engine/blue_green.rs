//! Blue-green: which colour is active (a scheduled `switch_at` flips it on every proxy at the
//! same instant), and the preview override that lets allowed testers reach the idle colour.

use super::trust::Trust;
use super::{Env, Reason, Target, override_value};
use crate::plan::{BlueGreen, Colour};
use crate::request::Request;

/// The active colour now, and whether the schedule made it so.
pub fn active(bg: &BlueGreen, env: &mut impl Env) -> (Colour, Reason) {
    match bg.switch_at {
        Some((colour, at)) if env.now_ms() >= at => (colour, Reason::Scheduled),
        _ => (bg.active, Reason::Base),
    }
}

/// The colour a request allowed to override asks for.
pub fn preview(
    bg: &BlueGreen,
    request: &Request<'_>,
    trust: &mut Trust<'_, '_, '_>,
    env: &mut impl Env,
) -> Option<Colour> {
    let colour = override_value(&bg.preview, request, |value| match value {
        b"blue" => Some(Colour::Blue),
        b"green" => Some(Colour::Green),
        _ => None,
    })?;
    trust.allowed(env).then_some(colour)
}

pub fn target(colour: Colour) -> Target {
    match colour {
        Colour::Blue => Target::Blue,
        Colour::Green => Target::Green,
    }
}
