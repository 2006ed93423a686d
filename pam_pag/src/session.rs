//! The module's logic, one function per hook group, over a [`PamHandle`]
//! and a [`Kernel`], so that it runs the same against libpam and against the
//! scripted fakes of the unit tests.

use std::time::Duration;

use pag::config::pam::{KeyringOwner, OnClose, OnKeyringUnavailable};
use pag::login::LoginPag;
use pag::token::handover::{HandedToken, HandoverError, Limits};
use pag::token::KeyType;
use pag::{ErrorKind, Owner};

use crate::environment;
use crate::handle::{PamHandle, SessionState};
use crate::kernel::{Kernel, UserEntry};
use crate::log::{Level, Log, Sink};
use crate::options::{self, Arguments, Options, OptionsError};
use crate::pam::{self, Code, Cred};
use crate::program::{self, Containment, Outcome, Run, Stream};

/// Which hook was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Authenticate,
    AcctMgmt,
    OpenSession,
    CloseSession,
    Setcred(Cred),
}

impl Hook {
    /// PAM's word for the hook group, as pam_syslog prints it.
    pub fn facility(self) -> &'static str {
        match self {
            Hook::Authenticate => "auth",
            Hook::AcctMgmt => "account",
            Hook::OpenSession | Hook::CloseSession => "session",
            Hook::Setcred(_) => "setcred",
        }
    }

    /// The code for "this hook failed".
    fn failure(self) -> Code {
        match self {
            Hook::Setcred(_) => pam::CRED_ERR,
            _ => pam::SESSION_ERR,
        }
    }
}

/// How options are found: the real module reads the TOML file; tests pass
/// a closure.
pub type Resolver<'a> = &'a dyn Fn(&Arguments, &str) -> Result<Options, OptionsError>;

/// The real resolver.
pub fn resolve_from_file(arguments: &Arguments, service: &str) -> Result<Options, OptionsError> {
    options::resolve(arguments, service)
}

/// Everything one hook call works with.
struct Call<'a, 'b> {
    hook: Hook,
    handle: &'a mut dyn PamHandle,
    kernel: &'a mut dyn Kernel,
    log: Log<'b>,
    options: Options,
    user: UserEntry,
}

/// Run `hook`. Never panics on bad input; returns the PAM code.
pub fn run(
    hook: Hook,
    handle: &mut dyn PamHandle,
    kernel: &mut dyn Kernel,
    args: &[String],
    sink: &mut dyn Sink,
    resolve: Resolver<'_>,
) -> Code {
    if matches!(hook, Hook::Authenticate | Hook::AcctMgmt) {
        return pam::IGNORE;
    }
    let service = handle.service().unwrap_or_else(|| "unknown".to_owned());
    let mut log = Log::new(&service, hook.facility(), sink);
    // Fail safe: a bad argument or a broken file never stops the PAG; the
    // session gets the built-in defaults and no token program, and the
    // problem is logged once per session (not by every hook).
    let (options, problem) = match options::parse_arguments(args) {
        Err(e) => (Options::fail_safe(), Some(OptionsError::Argument(e).to_string())),
        Ok(arguments) => {
            for unknown in &arguments.unknown {
                log.error(&format!("ignoring unknown module argument `{unknown}`"));
            }
            match resolve(&arguments, &service) {
                Ok(o) => (o, None),
                Err(e) => (Options::fail_safe(), Some(e.to_string())),
            }
        }
    };
    if let Some(problem) = problem {
        let mut state = handle.state().unwrap_or_default();
        // A handle that closed a session and now opens another says it again.
        let new_session = state.closed && matches!(hook, Hook::OpenSession | Hook::Setcred(Cred::Establish));
        if new_session || !state.reported.contains(&problem) {
            log.error(&format!(
                "{problem}; this session gets a PAG with the built-in defaults and no token program"
            ));
            if !state.reported.contains(&problem) {
                state.reported.push(problem);
            }
            // Only the once-only logging depends on this being kept.
            let _ = handle.set_state(state);
        }
    }
    log.set_debug(options.debug);
    let name = match handle.user() {
        Ok(n) => n,
        Err(code) => {
            log.error("cannot determine the user name");
            return code;
        }
    };
    let known = handle.state().and_then(|s| s.user).filter(|u| u.name == name);
    let user = match known.map_or_else(|| kernel.lookup_user(&name), |u| Ok(Some(u))) {
        Ok(Some(u)) => u,
        Ok(None) => {
            log.error(&format!("user {name}: unknown user"));
            return pam::USER_UNKNOWN;
        }
        Err(e) => {
            log.error(&format!("user {name}: cannot look up the user: {e}"));
            return pam::SYSTEM_ERR;
        }
    };
    if options.ignore_root && user.uid == 0 {
        log.debug(&format!("user {name}: ignored (ignore_root)"));
        return pam::IGNORE;
    }
    if user.uid < options.minimum_uid {
        log.debug(&format!("user {name}: ignored (uid {} < minimum_uid {})", user.uid, options.minimum_uid));
        return pam::IGNORE;
    }
    let mut call = Call { hook, handle, kernel, log, options, user };
    match hook {
        Hook::OpenSession | Hook::Setcred(Cred::Establish) => call.establish(),
        Hook::Setcred(Cred::Reinitialize | Cred::Refresh) => call.refresh(),
        Hook::CloseSession | Hook::Setcred(Cred::Delete) => call.close(),
        Hook::Authenticate | Hook::AcctMgmt => pam::IGNORE,
    }
}

impl Call<'_, '_> {
    fn who(&self) -> String {
        format!("user {}", self.user.name)
    }

    fn store(&mut self, state: SessionState) -> Result<(), Code> {
        self.handle.set_state(state).map_err(|code| {
            let who = self.who();
            self.log.error(&format!("{who}: cannot keep the session state in the PAM handle (code {code})"));
            pam::SERVICE_ERR
        })
    }

    /// setcred(ESTABLISH) or open_session: the first creates the PAG and
    /// runs the token program; the second (and sshd's setcred in its child)
    /// finds the state and does nothing more.
    fn establish(&mut self) -> Code {
        let who = self.who();
        let mut state = self.handle.state().unwrap_or_default();
        if state.closed {
            // A new session on a handle whose last one was closed: start
            // afresh (what was logged about the configuration stays said).
            state = SessionState { reported: std::mem::take(&mut state.reported), ..SessionState::default() };
        }
        if state.established {
            match state.pag {
                Some(pag) => self.log.debug(&format!("{who}: PAG {pag} already set up by this handle")),
                None => self.log.debug(&format!("{who}: already set up by this handle, without a PAG")),
            }
            self.restore_tag(&state);
            // login opens the session (PAG, no ticket yet) before pam_krb5's
            // setcred stores the ticket: the token step waits for KRB5CCNAME.
            if state.tokens_pending && (state.pag.is_some() || self.options.nopag) {
                return self.tokens_step(state);
            }
            return pam::SUCCESS;
        }
        if !self.options.nopag {
            let login = LoginPag {
                user: Owner { uid: self.user.uid, gid: self.user.gid },
                keyring_owner: self.options.keyring_owner,
                link_user_keyring: self.options.link_user_keyring,
                tag_gids: self.usable_tag_gids(),
            };
            let tag_asked = login.tag_gids.is_some();
            match self.kernel.create_pag(&login) {
                Ok((serial, tag)) => {
                    state.pag = Some(serial);
                    let owner = match self.options.keyring_owner {
                        KeyringOwner::Root => "root",
                        KeyringOwner::User => "the user",
                    };
                    self.log.info(&format!("{who}: created PAG {serial} (keyring owned by {owner})"));
                    state.tag = tag;
                    self.give_tag(serial, tag, tag_asked);
                }
                Err(e) if e.kind() == ErrorKind::KeyringsUnavailable => {
                    state.established = true;
                    state.keyrings_unavailable = true;
                    state.user = Some(self.user.clone());
                    if let Err(code) = self.store(state) {
                        return code;
                    }
                    return match self.options.on_keyring_unavailable {
                        OnKeyringUnavailable::Ignore => {
                            self.log.warning(&format!("{who}: no PAG for this session: {e}"));
                            pam::IGNORE
                        }
                        OnKeyringUnavailable::Fail => {
                            self.log.error(&format!("{who}: cannot create a PAG: {e}"));
                            self.hook.failure()
                        }
                    };
                }
                Err(e) => {
                    self.log.error(&format!("{who}: cannot create a PAG: {e}"));
                    return self.hook.failure();
                }
            }
        }
        state.established = true;
        state.user = Some(self.user.clone());
        state.tokens_pending = !self.options.notokens;
        if let Err(code) = self.store(state.clone()) {
            return code;
        }
        if self.options.notokens {
            return pam::SUCCESS;
        }
        self.tokens_step(state)
    }

    /// `tag_gids`, unless this system makes it unsafe (said each session).
    fn usable_tag_gids(&mut self) -> Option<std::ops::RangeInclusive<u32>> {
        let range = self.options.tag_gids.clone()?;
        let conflicts = self.kernel.tag_conflicts(&range);
        if conflicts.is_empty() {
            return Some(range);
        }
        let who = self.who();
        self.log.error(&format!("{who}: no tag for this login: {}", conflicts.join("; ")));
        None
    }

    /// Add the tag handed out with the new PAG to the process's groups.
    fn give_tag(&mut self, pag: i32, tag: Option<u32>, asked: bool) {
        let who = self.who();
        match tag {
            Some(gid) => match self.kernel.add_group(gid) {
                Ok(()) => self.log.info(&format!("{who}: PAG {pag} has tag gid {gid}")),
                Err(e) => self.log.error(&format!("{who}: cannot add tag gid {gid} to the groups: {e}")),
            },
            None if asked => {
                self.log.warning(&format!("{who}: no free tag gid in tag_gids: PAG {pag} has no tag"))
            }
            None => {}
        }
    }

    /// Applications call initgroups() between PAM calls (sshd's child
    /// before its second setcred, su): put the tag back.
    fn restore_tag(&mut self, state: &SessionState) {
        if let Some(gid) = state.tag {
            if let Err(e) = self.kernel.add_group(gid) {
                let who = self.who();
                self.log.error(&format!("{who}: cannot add tag gid {gid} to the groups again: {e}"));
            }
        }
    }

    /// Run the token step once the session is set up; remember when it ran.
    fn tokens_step(&mut self, mut state: SessionState) -> Code {
        let result = self.tokens(state.pag, state.tag);
        if result != Err(TokensSkipped) {
            state.tokens_pending = false;
            if let Err(code) = self.store(state) {
                return code;
            }
        }
        match result {
            Ok(()) | Err(TokensSkipped) => pam::SUCCESS,
            Err(_) if self.options.tokens_required => self.hook.failure(),
            Err(_) => pam::SUCCESS,
        }
    }

    /// setcred(REINITIALIZE or REFRESH): run the token program again, in the
    /// PAG this handle made. Before any PAG (sudo reinitializes before
    /// open_session) there is nothing to refresh.
    fn refresh(&mut self) -> Code {
        let who = self.who();
        let state = self.handle.state().unwrap_or_default();
        let mut tag = None;
        let pag = if !state.established || state.closed || (state.pag.is_none() && !self.options.nopag) {
            // A screen locker (running as the user, a handle of its own)
            // refreshes the PAG it runs in, with only the user's rights:
            // tokens the user's own, stored where the user could store them.
            match (self.kernel.is_root(), self.kernel.current_pag()) {
                (false, Some(pag)) if !self.options.notokens => {
                    self.log.debug(&format!("{who}: refreshing the tokens of the caller's PAG {pag}"));
                    Some(pag)
                }
                _ => {
                    self.log.debug(&format!("{who}: no session of this handle to refresh"));
                    return pam::IGNORE;
                }
            }
        } else {
            self.restore_tag(&state);
            tag = state.tag;
            state.pag
        };
        if self.options.notokens {
            return pam::IGNORE;
        }
        match self.tokens(pag, tag) {
            Ok(()) | Err(TokensSkipped) => pam::SUCCESS,
            Err(_) if self.options.tokens_required => self.hook.failure(),
            Err(_) => pam::SUCCESS,
        }
    }

    /// close_session or setcred(DELETE): apply `on_close` once.
    fn close(&mut self) -> Code {
        let who = self.who();
        let Some(mut state) = self.handle.state().filter(|s| s.established) else {
            self.log.debug(&format!("{who}: this handle opened no session; nothing to close"));
            return pam::IGNORE;
        };
        if state.closed {
            self.log.debug(&format!("{who}: already closed"));
            return pam::SUCCESS;
        }
        if state.keyrings_unavailable {
            // Said once when the session was set up; a second line (or a
            // failed close) for the same blocked keyrings would only be noise.
            state.closed = true;
            if let Err(code) = self.store(state) {
                return code;
            }
            self.log.debug(&format!("{who}: keyrings unavailable; nothing to close"));
            return pam::IGNORE;
        }
        let pag = state.pag;
        let done = match (self.options.on_close, pag) {
            (OnClose::Retain, Some(p)) => Ok(format!("retained PAG {p}")),
            (OnClose::Retain | OnClose::Revoke, None) => Ok("no PAG to close".to_owned()),
            (OnClose::Revoke, Some(p)) => self.kernel.revoke(p).map(|()| format!("revoked PAG {p}")),
            (OnClose::Unlog, _) if self.options.notokens => match pag {
                Some(p) => Ok(format!("left PAG {p} (notokens, nothing to unlog)")),
                None => Ok("nothing to unlog (notokens)".to_owned()),
            },
            (OnClose::Unlog, _) => self.kernel.unlog(pag).map(|n| match pag {
                Some(p) => format!("removed {n} token(s) from PAG {p}"),
                None => format!("removed {n} token(s) from the session keyring"),
            }),
        };
        state.closed = true;
        if let Err(code) = self.store(state) {
            return code;
        }
        match done {
            Ok(text) => {
                self.log.info(&format!("{who}: session closed, {text}"));
                pam::SUCCESS
            }
            Err(e) => {
                self.log.error(&format!("{who}: closing the session: {e}"));
                self.hook.failure()
            }
        }
    }

    /// Run the token program as the user and store the tokens it hands
    /// back in the PAG; with `kcm`, it also moves the tickets into the
    /// login's KCM cache (`tag`: the login's tag gid, which it runs with).
    /// Err when it did not succeed (already logged), or was skipped for want
    /// of KRB5CCNAME.
    fn tokens(&mut self, pag: Option<i32>, tag: Option<u32>) -> Result<(), TokenFailure> {
        let who = self.who();
        let program = self.options.program.clone();
        // An allowlist, never the whole PAM environment (which holds what
        // ~/.pam_environment says) nor the process environment (the
        // caller's under su or sudo).
        let pam_env = self.handle.env_list();
        let kernel = &*self.kernel;
        let built = environment::build(&self.user, &pam_env, &self.options.program_env, &|p| kernel.lstat(p));
        for why in &built.refused {
            self.log.warning(&format!("{who}: not passed to {program}: {why}"));
        }
        if built.ccache.is_none() && !self.options.always_aklog {
            self.log.debug(&format!("{who}: no KRB5CCNAME; not running {program}"));
            return Err(TokensSkipped);
        }
        let mut args = self.options.program_args.clone();
        for cell in &self.options.cells {
            args.push("-cell".to_owned());
            args.push(cell.clone());
        }
        let move_from = self.kcm_source(built.ccache.as_deref(), tag);
        let mut env = built.env;
        let mut extra_groups = Vec::new();
        if let (Some(_), Some(gid)) = (&move_from, tag) {
            env.push((kcm::VARIABLE.to_owned(), "1".to_owned()));
            extra_groups.push(gid);
        }
        let run = Run {
            program: program.clone(),
            args,
            user: self.user.name.clone(),
            uid: self.user.uid,
            gid: self.user.gid,
            extra_groups,
            env,
            timeout: Duration::from_secs(u64::from(self.options.timeout)),
            extra_fds: Vec::new(),
        };
        self.log.debug(&format!("{who}: running {program}"));
        let log = &mut self.log;
        let limits = Limits::for_cells(self.options.cells.len());
        let (report, handback) = self.kernel.run_program(&run, &limits, &mut |stream, line| {
            let level = match stream {
                Stream::Stdout => Level::Info,
                Stream::Stderr => Level::Notice,
            };
            log.line_bytes(level, &format!("{who}: {program}: "), line);
        });
        if report.dropped_lines > 0 || report.dropped_bytes > 0 {
            self.log.warning(&format!(
                "{who}: {program}: output over the limit of {} lines and {} bytes per run: {} more line(s), \
                 {} byte(s) not logged",
                program::MAX_LINES,
                program::MAX_BYTES,
                report.dropped_lines,
                report.dropped_bytes
            ));
        }
        match &report.containment {
            Containment::None => {}
            Containment::PidNamespace => {
                self.log.debug(&format!("{who}: {program} ran as pid 1 of its own PID namespace"))
            }
            Containment::ProcessGroup(why) => self.log.debug(&format!(
                "{who}: {program} ran in its own process group only ({why}): processes it moved out \
                 of that group with setsid were not killed"
            )),
        }
        // Before anything else of the message: tickets the program moved
        // are gone from the old cache whether or not its tokens are good.
        let ccache_report = handback.as_ref().ok().and_then(|m| m.ccache.clone());
        self.kcm_outcome(move_from.as_deref(), ccache_report);
        let handback = handback.map(|m| m.tokens);
        let outcome = report.outcome;
        let started = !matches!(outcome, Outcome::NotStarted(_) | Outcome::TimedOut);
        let result = match outcome {
            Outcome::Exited(0) => {
                self.log.debug(&format!("{who}: {program} succeeded"));
                Ok(())
            }
            Outcome::Exited(code) => {
                self.log.error(&format!("{who}: {program} failed with exit status {code}"));
                Err(TokensFailed)
            }
            Outcome::Signalled(sig) => {
                self.log.error(&format!("{who}: {program} was killed by signal {sig}"));
                Err(TokensFailed)
            }
            Outcome::TimedOut => {
                let t = self.options.timeout;
                self.log.error(&format!("{who}: {program} did not finish within {t} s and was killed"));
                Err(TokensFailed)
            }
            Outcome::NotStarted(why) => {
                self.log.error(&format!("{who}: cannot run {program}: {why}"));
                Err(TokensFailed)
            }
            Outcome::Unknown(why) => {
                self.log.warning(&format!("{who}: exit status of {program} unknown: {why}"));
                Ok(())
            }
        };
        if !started {
            return result;
        }
        let stored = self.store_handed_back(pag, handback, result.is_ok());
        match (result, stored) {
            (Ok(()), Ok(())) => Ok(()),
            _ => Err(TokensFailed),
        }
    }

    /// Check what the program handed back and store it, as root, in the
    /// PAG (or the session keyring without one). Err when nothing usable
    /// came back or a token could not be stored (logged).
    /// `succeeded`: the program exited 0 (a failed one saying nothing is
    /// already logged as failed).
    fn store_handed_back(
        &mut self,
        pag: Option<i32>,
        handback: Result<Vec<HandedToken>, HandoverError>,
        succeeded: bool,
    ) -> Result<(), TokenFailure> {
        let who = self.who();
        let program = &self.options.program;
        let handed = match handback {
            Ok(tokens) => tokens,
            Err(HandoverError::Empty) if !succeeded => {
                self.log.debug(&format!("{who}: {program} handed no tokens back"));
                return Err(TokensFailed);
            }
            Err(HandoverError::Empty) => {
                self.log.error(&format!(
                    "{who}: {program} handed no tokens back: it does not speak pag's token hand-over \
                     (PAG_TOKEN_FD; OpenAFS aklog and aklog-kafs do not), so this login gets no tokens \
                     from pam_pag; see pam_pag(8)"
                ));
                return Err(TokensFailed);
            }
            Err(e) => {
                self.log.error(&format!("{who}: refused the tokens {program} handed back: {e}"));
                return Err(TokensFailed);
            }
        };
        let wanted = &self.options.cells;
        let mut tokens = Vec::new();
        for handed in handed {
            if !wanted.is_empty() && !wanted.iter().any(|c| c.eq_ignore_ascii_case(&handed.cell)) {
                self.log.warning(&format!(
                    "{who}: ignoring the token for {} that {program} handed back: not among the cells asked for",
                    handed.cell
                ));
                continue;
            }
            tokens.push(handed.into_token(KeyType::Rxrpc));
        }
        if tokens.is_empty() {
            self.log.debug(&format!("{who}: {program} handed back no tokens"));
            return Ok(());
        }
        let results = self.kernel.store_tokens(pag, &tokens);
        let place = pag.map_or_else(|| "the session keyring".to_owned(), |p| format!("PAG {p}"));
        let mut failed = false;
        for (token, result) in tokens.iter().zip(results) {
            match result {
                Ok(key_type) => {
                    let note = if key_type == KeyType::User {
                        " (a user key: this kernel has no AF_RXRPC)"
                    } else {
                        ""
                    };
                    self.log.info(&format!("{who}: stored the token for {} in {place}{note}", token.cell));
                }
                Err(e) => {
                    failed = true;
                    self.log
                        .error(&format!("{who}: cannot store the token for {} in {place}: {e}", token.cell));
                }
            }
        }
        if failed {
            Err(TokensFailed)
        } else {
            Ok(())
        }
    }
}

/// Why the token step did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenFailure {
    /// No KRB5CCNAME (and not `always_aklog`): nothing to run yet.
    Skipped,
    /// It ran, or could not start, and failed (logged).
    Failed,
}

use TokenFailure::{Failed as TokensFailed, Skipped as TokensSkipped};

mod kcm;

#[cfg(test)]
mod tests;
