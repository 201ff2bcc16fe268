//! The before-acquire-handler (booth-protocol.md §5.6): a program, or every
//! entry of a directory not starting with `.` in alphabetical order, run one
//! after the other until the first failure. Unlike booth it has a timeout
//! (§10.1 #9), after which its process group is killed and the run fails,
//! and it is told the fencing token in `BOOTH_TERM` (§10.1 #7).

use std::path::{Path, PathBuf};
use std::process::Command;

use booth_core::engine::TicketIndex;
use booth_core::Instant;

use super::child::{self, Outcome, Reaper, Running};

/// What the handler is told about the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerEnv {
    pub ticket: String,
    pub local: String,
    pub conf_name: String,
    pub conf_path: String,
    /// Epoch seconds of the current lease end (0 when none).
    pub expires: u64,
    pub term: u32,
}

impl HandlerEnv {
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BOOTH_TICKET", self.ticket.clone()),
            ("BOOTH_LOCAL", self.local.clone()),
            ("BOOTH_CONF_NAME", self.conf_name.clone()),
            ("BOOTH_CONF_PATH", self.conf_path.clone()),
            ("BOOTH_TICKET_EXPIRES", self.expires.to_string()),
            ("BOOTH_TERM", self.term.to_string()),
        ]
    }
}

/// The programs one run executes, in order: the configured program, or the
/// directory's non-dot entries sorted by name.
pub fn programs(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut names: Vec<_> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| !n.to_string_lossy().starts_with('.'))
        .collect();
    names.sort();
    Ok(names.into_iter().map(|n| path.join(n)).collect())
}

/// One ticket's handler run in progress.
#[derive(Debug)]
struct Run {
    ticket: TicketIndex,
    queue: Vec<PathBuf>,
    args: Vec<String>,
    env: HandlerEnv,
    current: Option<(PathBuf, Running)>,
    deadline: Instant,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerDone {
    pub ticket: TicketIndex,
    pub ok: bool,
    /// Why it failed, for the log.
    pub why: Option<String>,
}

/// All handler runs (one per ticket at most).
#[derive(Debug, Default)]
pub struct Handlers {
    runs: Vec<Run>,
}

impl Handlers {
    /// Starts the handler `argv` (program or directory first) for `ticket`,
    /// failing the whole run at `deadline`. A run already going for the
    /// ticket is abandoned first.
    pub fn start(
        &mut self,
        ticket: TicketIndex,
        argv: &[String],
        env: HandlerEnv,
        now: Instant,
        deadline: Instant,
        reaper: &mut Reaper,
    ) -> Option<HandlerDone> {
        self.cancel(ticket, now, reaper);
        let Some(first) = argv.first() else {
            return Some(HandlerDone {
                ticket,
                ok: false,
                why: Some("no handler configured".to_owned()),
            });
        };
        let queue = match programs(Path::new(first)) {
            Ok(q) => q,
            Err(e) => {
                return Some(HandlerDone {
                    ticket,
                    ok: false,
                    why: Some(format!("{first}: {e}")),
                })
            }
        };
        let mut run = Run {
            ticket,
            queue: queue.into_iter().rev().collect(),
            args: argv[1..].to_vec(),
            env,
            current: None,
            deadline,
        };
        match next(&mut run) {
            Step::Started => {
                self.runs.push(run);
                None
            }
            Step::AllPassed => Some(HandlerDone {
                ticket,
                ok: true,
                why: None,
            }),
            Step::Failed(why) => Some(HandlerDone {
                ticket,
                ok: false,
                why: Some(why),
            }),
        }
    }

    /// Stops the ticket's run (SIGTERM, then SIGKILL after a grace); its
    /// result is not reported.
    pub fn cancel(&mut self, ticket: TicketIndex, now: Instant, reaper: &mut Reaper) -> bool {
        let Some(i) = self.runs.iter().position(|r| r.ticket == ticket) else {
            return false;
        };
        let run = self.runs.swap_remove(i);
        if let Some((_, child)) = run.current {
            reaper.abandon(child, now, 5_000);
        }
        true
    }

    /// Advances every run: reaps the current program, starts the next one,
    /// enforces the deadline.
    pub fn poll(&mut self, now: Instant, reaper: &mut Reaper) -> Vec<HandlerDone> {
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.runs.len() {
            let run = &mut self.runs[i];
            let finished = run.current.as_mut().and_then(|(_, c)| c.poll(now));
            let Some(f) = finished else {
                i += 1;
                continue;
            };
            let (prog, child) = run.current.take().expect("polled above");
            reaper.adopt(child, now);
            let failed = match f.outcome {
                Outcome::Exited(0) => None,
                Outcome::TimedOut => Some(format!(
                    "handler \"{}\" did not finish in time and was killed",
                    prog.display()
                )),
                other => Some(format!("handler \"{}\" failed: {other}", prog.display())),
            };
            let result = match failed {
                Some(why) => Some((false, Some(why))),
                None => match next(run) {
                    Step::Started => None,
                    Step::AllPassed => Some((true, None)),
                    Step::Failed(why) => Some((false, Some(why))),
                },
            };
            match result {
                Some((ok, why)) => {
                    let run = self.runs.swap_remove(i);
                    done.push(HandlerDone {
                        ticket: run.ticket,
                        ok,
                        why,
                    });
                }
                None => i += 1,
            }
        }
        done
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.runs.iter().map(|r| r.deadline).min()
    }

    pub fn running(&self, ticket: TicketIndex) -> bool {
        self.runs.iter().any(|r| r.ticket == ticket)
    }
}

enum Step {
    Started,
    AllPassed,
    Failed(String),
}

/// Starts the next program of `run`, if any.
fn next(run: &mut Run) -> Step {
    let Some(prog) = run.queue.pop() else {
        return Step::AllPassed;
    };
    let mut cmd = Command::new(&prog);
    cmd.args(&run.args);
    for (k, v) in run.env.vars() {
        cmd.env(k, v);
    }
    match child::spawn_inherit(cmd, run.deadline) {
        Ok(c) => {
            log::debug!(
                "ticket {}: running handler {}",
                run.env.ticket,
                prog.display()
            );
            run.current = Some((prog, c));
            Step::Started
        }
        Err(e) => Step::Failed(format!("cannot run handler \"{}\": {e}", prog.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::clock;
    use booth_core::Duration;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn env() -> HandlerEnv {
        HandlerEnv {
            ticket: "tA".to_owned(),
            local: "127.0.0.2".to_owned(),
            conf_name: "booth".to_owned(),
            conf_path: "/etc/booth/booth.conf".to_owned(),
            expires: 1_795_594_217,
            term: 7,
        }
    }

    fn script(path: &Path, body: &str) {
        fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn run_to_end(
        h: &mut Handlers,
        reaper: &mut Reaper,
        first: Option<HandlerDone>,
    ) -> HandlerDone {
        if let Some(d) = first {
            return d;
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < until {
            if let Some(d) = h.poll(clock::mono(), reaper).pop() {
                return d;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("handler never finished");
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "booth-handler-{tag}-{}-{}",
            std::process::id(),
            clock::wall().0
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn directory_runs_in_order_with_env_and_stops_at_failure() {
        let dir = temp_dir("dir");
        let hd = dir.join("handlers.d");
        fs::create_dir(&hd).unwrap();
        let log = dir.join("log");
        let l = log.display();
        script(&hd.join("10-first"), &format!("echo \"first $1 $BOOTH_TICKET $BOOTH_TERM $BOOTH_TICKET_EXPIRES $BOOTH_LOCAL $BOOTH_CONF_NAME\" >> {l}"));
        script(&hd.join("20-fail"), &format!("echo fail >> {l}; exit 4"));
        script(&hd.join("30-never"), &format!("echo never >> {l}"));
        script(&hd.join(".hidden"), &format!("echo hidden >> {l}"));
        let mut h = Handlers::default();
        let mut reaper = Reaper::default();
        let now = clock::mono();
        let argv = vec![hd.display().to_string(), "arg1".to_owned()];
        let first = h.start(0, &argv, env(), now, now + Duration(10_000), &mut reaper);
        let d = run_to_end(&mut h, &mut reaper, first);
        assert!(!d.ok);
        assert!(d.why.unwrap().contains("20-fail"));
        assert_eq!(
            fs::read_to_string(&log).unwrap(),
            "first arg1 tA 7 1795594217 127.0.0.2 booth\nfail\n"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn program_success_failure_and_timeout() {
        let dir = temp_dir("prog");
        let ok = dir.join("ok");
        script(&ok, "exit 0");
        let slow = dir.join("slow");
        script(&slow, "sleep 30");
        let mut h = Handlers::default();
        let mut reaper = Reaper::default();
        let now = clock::mono();
        let argv = vec![ok.display().to_string()];
        let first = h.start(1, &argv, env(), now, now + Duration(10_000), &mut reaper);
        assert!(run_to_end(&mut h, &mut reaper, first).ok);

        let argv = vec![slow.display().to_string()];
        let now = clock::mono();
        let first = h.start(2, &argv, env(), now, now + Duration(200), &mut reaper);
        let d = run_to_end(&mut h, &mut reaper, first);
        assert!(!d.ok);
        assert!(d.why.unwrap().contains("did not finish in time"));

        let argv = vec![dir.join("missing").display().to_string()];
        let first = h.start(3, &argv, env(), now, now + Duration(200), &mut reaper);
        assert!(!first.unwrap().ok);

        // Cancel: nothing is reported, the child is terminated.
        let argv = vec![slow.display().to_string()];
        let now = clock::mono();
        assert!(h
            .start(4, &argv, env(), now, now + Duration(60_000), &mut reaper)
            .is_none());
        assert!(h.running(4));
        assert!(h.cancel(4, now, &mut reaper));
        assert!(!h.running(4));
        assert!(h.poll(clock::mono(), &mut reaper).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
