//! Modules, tokens, the one login, and sessions.
//!
//! Guarantees:
//! - a PKCS#11 library is loaded and `C_Initialize`d once per process per module path, and kept for
//!   the life of the process (finalizing it under other users would end their sessions);
//! - each token is logged into at most once per process: the first key opened on it logs in and keeps
//!   that session open, so the login (which PKCS#11 shares between all sessions of an application)
//!   lasts as long as the process; a wrong PIN is remembered and reported again without a second
//!   `C_Login` (tokens lock after a few failures);
//! - every opened key gets its own session behind a mutex (a PKCS#11 session must not be used by two
//!   threads at once), so keys on the same token can be used from different threads.

use super::counters::{count, Call};
use super::error::{call, describe, rv, ErrorKind, Pkcs11Error};
use super::pin;
use super::uri::Pkcs11Uri;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Environment variable naming the module when the URI has no `module-path`.
pub const MODULE_ENV: &str = "MODELSEAL_PKCS11_MODULE";

/// Loaded and initialised libraries, by path.
static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
/// Tokens in use, by (module path, slot id).
static TOKENS: OnceLock<Mutex<HashMap<TokenKey, Arc<Token>>>> = OnceLock::new();
/// (module path, slot id).
type TokenKey = (PathBuf, u64);

/// One token in one slot of one module, and its login state.
pub(crate) struct Token {
    pub(crate) ctx: Pkcs11,
    pub(crate) slot: Slot,
    pub(crate) label: String,
    login: Mutex<Login>,
}

enum Login {
    /// Nobody tried yet.
    NotYet,
    /// Logged in; this session keeps the login alive.
    Done(#[allow(dead_code)] Session),
    /// The token needs no login.
    NotRequired,
    /// Logging in failed; the same error is reported again without retrying.
    Failed(ErrorKind),
}

/// A session on a logged-in token, for one key.
pub(crate) struct KeySession {
    pub(crate) token: Arc<Token>,
    session: Mutex<Session>,
}

impl KeySession {
    /// Runs `f` with exclusive use of the session.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        let guard = match self.session.lock() {
            Ok(g) => g,
            // A panic in another user of this session cannot leave PKCS#11 state we rely on.
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&guard)
    }
}

/// Opens a session on the token `uri` names, logging in first if this process has not yet.
pub(crate) fn open(uri: &Pkcs11Uri) -> Result<KeySession, Pkcs11Error> {
    let err = |kind| Pkcs11Error::new(uri, kind);
    let module = module_path(uri).map_err(err)?;
    let ctx = load(&module).map_err(err)?;
    let slot = find_slot(&ctx, uri).map_err(err)?;
    let token = token(&module, ctx, slot).map_err(err)?;
    login(&token, uri).map_err(err)?;
    let session = token
        .ctx
        .open_ro_session(token.slot)
        .map_err(|e| err(call("C_OpenSession", &e)))?;
    Ok(KeySession {
        token,
        session: Mutex::new(session),
    })
}

/// The module path from the URI, else from [`MODULE_ENV`].
fn module_path(uri: &Pkcs11Uri) -> Result<PathBuf, ErrorKind> {
    if let Some(p) = &uri.module_path {
        return Ok(p.clone());
    }
    match std::env::var_os(MODULE_ENV) {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(ErrorKind::NoModule),
    }
}

/// Loads and initialises a module once per process.
fn load(path: &Path) -> Result<Pkcs11, ErrorKind> {
    let modules = MODULES.get_or_init(Default::default);
    let mut modules = modules.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = modules.get(path) {
        return Ok(ctx.clone());
    }
    let fail = |reason: String| ErrorKind::Module {
        module: path.display().to_string(),
        reason,
    };
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    // A library others can replace would run their code in this process (with its keys).
    match crate::fs::exposure_of(path) {
        Ok(None) => {}
        Ok(Some(reason)) => {
            return Err(fail(format!(
                "{reason}, so others could replace the code this process loads; chmod go-w it"
            )))
        }
        Err(e) => return Err(fail(format!("cannot check ({e})"))),
    }
    let ctx = Pkcs11::new(path).map_err(|e| fail(format!("cannot load ({e})")))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        // Someone else in this process initialised it (e.g. another binding): share it.
        Err(e) if rv(&e) == Some(RvError::CryptokiAlreadyInitialized) => {}
        Err(e) => return Err(fail(format!("C_Initialize failed: {}", describe(&e)))),
    }
    modules.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// The one slot whose token matches the URI's token attributes.
fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, ErrorKind> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| call("C_GetSlotList", &e))?;
    let mut present = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| call("C_GetTokenInfo", &e))?;
        let (label, serial) = (info.label().trim(), info.serial_number().trim());
        let wanted = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        if !info.token_initialized() {
            continue;
        }
        present.push(format!("{label:?} (slot {}, serial {serial:?})", slot.id()));
        if wanted(&uri.token, label)
            && wanted(&uri.serial, serial)
            && wanted(&uri.manufacturer, info.manufacturer_id().trim())
            && wanted(&uri.model, info.model().trim())
            && uri.slot_id.is_none_or(|id| id == slot.id())
        {
            matching.push(slot);
        }
    }
    match matching.len() {
        1 => Ok(matching[0]),
        0 => Err(ErrorKind::Token(format!(
            "no token matches {}; initialised tokens: {}",
            uri.token_description(),
            if present.is_empty() {
                "none".into()
            } else {
                present.join(", ")
            }
        ))),
        n => Err(ErrorKind::Token(format!(
            "{n} tokens match {}; add serial= or slot-id= to pick one",
            uri.token_description()
        ))),
    }
}

/// The process-wide state of a token.
fn token(module: &Path, ctx: Pkcs11, slot: Slot) -> Result<Arc<Token>, ErrorKind> {
    let tokens = TOKENS.get_or_init(Default::default);
    let mut tokens = tokens.lock().unwrap_or_else(|p| p.into_inner());
    let key = (module.to_path_buf(), slot.id());
    if let Some(t) = tokens.get(&key) {
        return Ok(t.clone());
    }
    let info = ctx
        .get_token_info(slot)
        .map_err(|e| call("C_GetTokenInfo", &e))?;
    let login = if info.login_required() {
        Login::NotYet
    } else {
        Login::NotRequired
    };
    let token = Arc::new(Token {
        label: info.label().trim().to_string(),
        ctx,
        slot,
        login: Mutex::new(login),
    });
    tokens.insert(key, token.clone());
    Ok(token)
}

/// Logs in once: the first caller reads the PIN and calls `C_Login`; later callers reuse the result.
fn login(token: &Token, uri: &Pkcs11Uri) -> Result<(), ErrorKind> {
    let mut state = token.login.lock().unwrap_or_else(|p| p.into_inner());
    match &*state {
        Login::Done(_) | Login::NotRequired => return Ok(()),
        Login::Failed(kind) => return Err(kind.clone()),
        Login::NotYet => {}
    }
    let session = token
        .ctx
        .open_ro_session(token.slot)
        .map_err(|e| call("C_OpenSession", &e))?;
    let pin = pin::obtain(uri, &token.label)?;
    count(Call::Login);
    let result = session.login_with_raw(UserType::User, &pin);
    drop(pin);
    match result {
        // Logged in already by someone else in this process (e.g. another binding): fine.
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
            *state = Login::Done(session);
            Ok(())
        }
        Err(e) => {
            let kind = match rv(&e) {
                Some(RvError::PinIncorrect) => ErrorKind::PinIncorrect,
                Some(RvError::PinLocked) => ErrorKind::PinLocked,
                _ => call("C_Login", &e),
            };
            *state = Login::Failed(kind.clone());
            Err(kind)
        }
    }
}
