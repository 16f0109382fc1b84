//! The server's own log lines on stderr — listening address, reloads, shutdown, internal errors —
//! as text or, with `--json`, one JSON object per line. Requests are recorded in the audit log,
//! not here. A line is written with one `write` (eprintln locks stderr) so lines never mix.

use serde_json::json;
use std::net::SocketAddr;

/// Where and how the server logs.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    /// One JSON object per line instead of text.
    pub json: bool,
}

impl Log {
    /// The bound address, printed once: how scripts find a port chosen with `:0`.
    pub fn listening(self, address: SocketAddr) {
        if self.json {
            eprintln!(
                "{}",
                json!({"event": "listening", "address": address.to_string()})
            );
        } else {
            eprintln!("listening on http://{address}");
        }
    }

    /// An event (`reloaded`, `shutdown`, …) with a human message.
    pub fn info(self, event: &str, message: &str) {
        if self.json {
            eprintln!("{}", json!({"event": event, "message": message}));
        } else {
            eprintln!("{event}: {message}");
        }
    }

    /// An error the server survives (a policy that fails to reload, an audit write failure).
    pub fn error(self, event: &str, message: &str) {
        if self.json {
            eprintln!("{}", json!({"event": event, "error": message}));
        } else {
            eprintln!("error: {event}: {message}");
        }
    }
}
