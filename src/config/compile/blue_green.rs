//! `blue_green`: the colours, the preview selector and the scheduled switch.

use super::Part::{Quoted, Text};
use super::{Compiler, Inputs};
use crate::config::{self, Path};
use crate::plan;

impl Compiler {
    pub(super) fn blue_green(
        &mut self,
        at: &Path<'_>,
        bg: &config::BlueGreen,
        inputs: &Inputs<'_>,
    ) -> Option<plan::BlueGreen> {
        let active = self
            .required(&Path::Key(at, "active"), &bg.active)
            .map(colour);
        let blue = self.required_cluster(&Path::Key(at, "blue"), &bg.blue);
        let green = self.required_cluster(&Path::Key(at, "green"), &bg.green);
        let preview = match &bg.preview {
            Some(p) => self.selector(&Path::Key(at, "preview"), p, inputs),
            None => Some(plan::Selector::default()),
        };
        let switch_at = match &bg.switch_at {
            Some(s) => {
                let switch = Path::Key(at, "switch_at");
                let colour = self
                    .required(&Path::Key(&switch, "active"), &s.active)
                    .map(colour);
                let at = Path::Key(&switch, "at");
                let instant = self.required(&at, &s.at).and_then(|t| {
                    crate::time::parse_rfc3339(t)
                        .map_err(|e| self.report(&at, &[Text(e), Text(", got "), Quoted(t)]))
                        .ok()
                });
                match (colour, instant) {
                    (Some(colour), Some(instant)) => Some(Some((colour, instant))),
                    _ => None,
                }
            }
            None => Some(None),
        };
        // One way out for every missing part: each `?` would drop what came before it anew.
        let (Some(active), Some(blue), Some(green), Some(preview), Some(switch_at)) =
            (active, blue, green, preview, switch_at)
        else {
            return None;
        };
        Some(plan::BlueGreen {
            active,
            blue,
            green,
            preview,
            switch_at,
        })
    }
}

fn colour(colour: &config::Colour) -> plan::Colour {
    match colour {
        config::Colour::Blue => plan::Colour::Blue,
        config::Colour::Green => plan::Colour::Green,
    }
}
