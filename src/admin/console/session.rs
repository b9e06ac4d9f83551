//! Console sessions: a random id in an HttpOnly, SameSite=Strict cookie, and per session a
//! CSRF token every form posts back. Kept in memory: a restart logs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE: &str = "nb_console";
/// How long a session lasts after its login.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 1000;

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    /// Every POST carries it back in its form.
    pub csrf: String,
    started: Instant,
}

impl Session {
    /// Whether `given` is this session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Starts a session.
    pub fn start(&self) -> Session {
        let session = Session {
            id: random_hex(),
            csrf: random_hex(),
            started: Instant::now(),
        };
        if let Ok(mut live) = self.live.lock() {
            live.retain(|_, s| s.started.elapsed() < LIFETIME);
            if live.len() >= MAX_SESSIONS {
                if let Some(oldest) = live
                    .values()
                    .min_by_key(|s| s.started)
                    .map(|s| s.id.clone())
                {
                    live.remove(&oldest);
                }
            }
            live.insert(session.id.clone(), session.clone());
        }
        session
    }

    /// The session with this id, while it lasts.
    pub fn get(&self, id: &str) -> Option<Session> {
        let live = self.live.lock().ok()?;
        live.get(id)
            .filter(|s| s.started.elapsed() < LIFETIME)
            .cloned()
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(id);
        }
    }
}

/// 32 random bytes as hex: unguessable.
fn random_hex() -> String {
    hex::encode(rand::rng().random::<[u8; 32]>())
}

/// The `Set-Cookie` value that carries `id`; path-scoped to the console.
pub fn cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub fn cleared() -> String {
    format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session id in a `Cookie` header, if any.
pub fn from_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_find_and_end() {
        let sessions = Sessions::default();
        let s = sessions.start();
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, s.csrf);
        assert!(sessions.get(&s.id).unwrap().csrf_ok(&s.csrf));
        assert!(!s.csrf_ok("guess"));
        sessions.end(&s.id);
        assert!(sessions.get(&s.id).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others_and_is_strict() {
        assert_eq!(from_header("a=1; nb_console=abc; b=2"), Some("abc"));
        assert_eq!(from_header("a=1"), None);
        let set = cookie("abc");
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    }
}
