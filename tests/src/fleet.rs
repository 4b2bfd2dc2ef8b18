//! A fleet testbed of real processes: three timemasters and ten
//! timeslaves, each in a network namespace of its own, joined by a Linux
//! bridge in a "switch" namespace. Nothing touches the host's interfaces:
//! every veth pair is made between the switch namespace and a node's
//! namespace, and addresses (10.232.0.0/24) exist only inside them.
//!
//! Each master reads its own simulated receiver through its own gpsd,
//! which runs in the master's namespace and listens on that namespace's
//! loopback (the gpsd source reads gpsd on loopback only). The simulator's
//! pseudo-terminal lives in the file system, which namespaces share. Each
//! slave polls the three masters' namespace addresses and serves its Unix
//! socket in the test's directory, so the test reads every slave from the
//! host namespace without any network traffic of its own. The host's
//! `CLOCK_REALTIME`, which every namespace shares, is true time.
//!
//! `scripts/fleet` builds the same layout for people; this module builds
//! its own so that a test holds every process and namespace in guards:
//! dropped (also when the test fails), the processes get SIGCONT (a
//! stopped one would not see SIGTERM), then SIGTERM and SIGKILL, then the
//! namespaces go, taking the veth pairs and the bridge with them. A test
//! process killed outright takes its daemons and simulators with it (they
//! are started with a parent-death signal); the next fleet kills the gpsd
//! processes it left (gpsd clears that signal when it gives up root) and
//! removes its namespaces and directory.
//!
//! Needs root.

use crate::procs::{bin, wait_for, Proc, TempDir};
use crate::stack::Client;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Masters in the fleet.
pub const MASTERS: usize = 3;
/// Slaves in the fleet.
pub const SLAVES: usize = 10;
/// The port every master listens on, in its own namespace.
pub const MASTER_PORT: u16 = 7371;
/// The simulator writes each second's sentences this long after it.
pub const SENTENCE_DELAY_MS: i64 = 50;
/// The masters' delay range for the gpsd source, microseconds: the true
/// delay is never below the simulator's 50 ms (a sleep does not end
/// early), and 95 ms above it leave room for gpsd and a busy machine, as
/// in the other tests on real processes.
pub const DELAY_RANGE_US: (i64, i64) = (20_000, 145_000);
/// The drift bound every daemon applies, ppm.
pub const DRIFT_PPM: i64 = 200;
/// How often a slave polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1_000);
/// How long a slave waits for one master's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a slave carries its last interval without a quorum: short, so
/// that a test sees it expire.
pub const MAX_HOLDOVER: Duration = Duration::from_secs(5);

/// A master's address as the slaves and its peers are configured with it.
pub fn master_address(master: usize) -> String {
    format!("10.232.0.{}:{MASTER_PORT}", master + 1)
}

fn slave_ip(slave: usize) -> String {
    format!("10.232.0.{}", slave + 11)
}

/// Runs `ip ARGS`; the error names the command and what `ip` said.
pub fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `{program}` ({e}); install iproute2"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Panics unless the test runs as root, saying why it must.
pub fn require_root(test: &str) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test creates network namespaces, veth pairs and a bridge, which needs root (CI \
         runs as root); run it as root, e.g. sudo -E cargo test -p tt-tests --test {test}"
    );
}

/// The namespaces and links. Dropped, every namespace it made is
/// deleted, nodes before the switch.
pub struct Network {
    prefix: String,
    made: Vec<String>,
}

impl Network {
    /// Makes the switch namespace with its bridge, and one namespace per
    /// master and slave, each with `eth0` joined to the bridge. Names start
    /// with `ttfleet<pid>-<n>-`, unique among runs on this machine.
    pub fn create(masters: usize, slaves: usize) -> Network {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        remove_stale_fleets();
        let mut net = Network {
            prefix: format!("ttfleet{}-{n}", std::process::id()),
            made: Vec::new(),
        };
        // On a panic here `net` is dropped and removes what was made.
        if let Err(e) = net.build(masters, slaves) {
            panic!("cannot build the fleet's network: {e}");
        }
        net
    }

    fn build(&mut self, masters: usize, slaves: usize) -> Result<(), String> {
        let switch = self.switch();
        self.add_namespace(&switch)?;
        ip(&[
            "-n", &switch, "link", "add", "name", "br0", "type", "bridge",
        ])?;
        ip(&["-n", &switch, "link", "set", "dev", "br0", "up"])?;
        for master in 0..masters {
            let address = master_address(master);
            let address = address.split(':').next().expect("address has a host");
            self.add_node(&self.master_ns(master), &format!("m{master}"), address)?;
        }
        for slave in 0..slaves {
            self.add_node(
                &self.slave_ns(slave),
                &format!("s{slave}"),
                &slave_ip(slave),
            )?;
        }
        Ok(())
    }

    fn add_namespace(&mut self, name: &str) -> Result<(), String> {
        ip(&["netns", "add", name])?;
        self.made.push(name.to_string());
        ip(&["-n", name, "link", "set", "dev", "lo", "up"])
    }

    /// A namespace whose `eth0` is the far end of switch port `port`.
    fn add_node(&mut self, namespace: &str, port: &str, address: &str) -> Result<(), String> {
        self.add_namespace(namespace)?;
        let switch = self.switch();
        // Made inside the switch namespace with its peer born in the node's:
        // no interface ever exists in the host's namespace.
        ip(&[
            "-n", &switch, "link", "add", "name", port, "type", "veth", "peer", "name", "eth0",
            "netns", namespace,
        ])?;
        ip(&["-n", &switch, "link", "set", "dev", port, "master", "br0"])?;
        ip(&["-n", &switch, "link", "set", "dev", port, "up"])?;
        ip(&[
            "-n",
            namespace,
            "addr",
            "add",
            &format!("{address}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", namespace, "link", "set", "dev", "eth0", "up"])
    }

    /// The namespace holding the bridge.
    pub fn switch(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    /// Master `master`'s namespace.
    pub fn master_ns(&self, master: usize) -> String {
        format!("{}-m{master}", self.prefix)
    }

    /// Slave `slave`'s namespace.
    pub fn slave_ns(&self, slave: usize) -> String {
        format!("{}-s{slave}", self.prefix)
    }

    /// The prefix every namespace name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Cuts slave `slave` off: its own `eth0` goes down, so its route to
    /// the masters goes with it and connecting fails at once.
    pub fn cut(&self, slave: usize) {
        let ns = self.slave_ns(slave);
        ip(&["-n", &ns, "link", "set", "dev", "eth0", "down"]).expect("link goes down");
    }

    /// Undoes [`Network::cut`].
    pub fn mend(&self, slave: usize) {
        let ns = self.slave_ns(slave);
        ip(&["-n", &ns, "link", "set", "dev", "eth0", "up"]).expect("link comes up");
    }

    /// Stalls slave `slave`: its switch port is disabled, so the bridge
    /// drops every frame to and from it while the slave's own link stays
    /// up. Nothing tells the slave; its packets vanish and its requests
    /// time out, as on a congested or broken path.
    pub fn stall(&self, slave: usize) {
        self.port_state(slave, "0");
    }

    /// Undoes [`Network::stall`]: the port forwards again.
    pub fn unstall(&self, slave: usize) {
        self.port_state(slave, "3");
    }

    fn port_state(&self, slave: usize, state: &str) {
        let port = format!("s{slave}");
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.switch(),
                "bridge",
                "link",
                "set",
                "dev",
                &port,
                "state",
                state,
            ],
        )
        .expect("the bridge port's state changes");
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for name in self.made.iter().rev() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Removes what fleets whose test process is gone left behind: one killed
/// outright (SIGKILL, a CI timeout) could not run its guards. Its daemons
/// died with it (see [`start_guarded`]), but gpsd gives up root after it
/// starts, which clears its parent-death signal: the processes still in
/// its namespaces are found by `ip netns pids` and killed by PID, then the
/// namespaces are deleted, then its directory. Its namespaces and its
/// directory carry its process id.
fn remove_stale_fleets() {
    let dead = |pid: &str| {
        pid.parse::<u32>()
            .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    for name in namespaces() {
        let Some(pid) = name
            .strip_prefix("ttfleet")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !dead(pid) {
            continue;
        }
        if let Ok(output) = Command::new("ip").args(["netns", "pids", &name]).output() {
            for left in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                signal_pid(left, "-KILL");
            }
        }
        let _ = ip(&["netns", "del", &name]);
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("truetime-fleet-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if dead(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Names of the network namespaces that exist now.
pub fn namespaces() -> Vec<String> {
    let output = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("`ip netns list` runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A simulated receiver and the gpsd that reads it.
struct Receiver {
    sim: Proc,
    gpsd: Proc,
}

/// One master: its receiver, its process, and its configuration file.
struct MasterNode {
    receiver: Option<Receiver>,
    master: Option<Proc>,
    config: PathBuf,
    starts: u32,
    receivers: u32,
}

/// The running fleet. Fields drop in order: processes, then the network,
/// then the directory.
pub struct Fleet {
    masters: Vec<MasterNode>,
    slaves: Vec<Proc>,
    net: Network,
    dir: TempDir,
}

impl Fleet {
    /// Builds the network and starts every receiver, gpsd, master and
    /// slave. Masters have each other as peers; slaves poll all three.
    pub fn start() -> Fleet {
        let dir = TempDir::new("fleet");
        let net = Network::create(MASTERS, SLAVES);
        let mut fleet = Fleet {
            masters: Vec::new(),
            slaves: Vec::new(),
            net,
            dir,
        };
        for master in 0..MASTERS {
            let config = fleet.dir.path().join(format!("m{master}.toml"));
            write_master_config(&config, master);
            fleet.masters.push(MasterNode {
                receiver: None,
                master: None,
                config,
                starts: 0,
                receivers: 0,
            });
            fleet.replace_receiver(master, 0);
            fleet.start_master(master);
        }
        for slave in 0..SLAVES {
            let config = fleet.dir.path().join(format!("s{slave}.toml"));
            write_slave_config(&config, fleet.dir.path(), slave);
            let process = start_guarded(
                &format!("s{slave}-timeslave"),
                Some(&fleet.net.slave_ns(slave)),
                &bin("timeslave"),
                &["--config", config.to_str().expect("a UTF-8 path")],
                fleet.dir.path(),
            );
            fleet.slaves.push(process);
        }
        fleet
    }

    /// The network, to cut or stall links.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// Slave `slave`'s Unix socket.
    pub fn slave_socket(&self, slave: usize) -> PathBuf {
        self.dir.path().join(format!("s{slave}.sock"))
    }

    /// A client for every slave, each connected within `limit`.
    pub fn connect_slaves(&self, limit: Duration) -> Vec<Client> {
        (0..SLAVES)
            .map(|slave| {
                let target = format!("unix:{}", self.slave_socket(slave).display());
                Client::connect(&target, limit).unwrap_or_else(|| {
                    panic!(
                        "slave {slave} never opened {target}; its log:\n{}",
                        self.slaves[slave].log()
                    )
                })
            })
            .collect()
    }

    /// Replaces master `master`'s receiver and gpsd by new ones whose
    /// simulator labels each second `offset_ms` away from the host clock
    /// (0: the truth). gpsd listens on 127.0.0.1:2947 inside the master's
    /// namespace, where the master's gpsd source reconnects to it.
    pub fn replace_receiver(&mut self, master: usize, offset_ms: i64) {
        let ns = self.net.master_ns(master);
        let node = &mut self.masters[master];
        // gpsd first, so that it never reads a pty whose simulator is gone.
        if let Some(old) = node.receiver.take() {
            drop(old.gpsd);
            drop(old.sim);
        }
        node.receivers += 1;
        let name = format!("m{master}-gps{}", node.receivers);
        let link = self.dir.path().join(&name);
        let link_text = link.to_str().expect("a UTF-8 path").to_string();
        let mut args = vec![
            "--link".to_string(),
            link_text.clone(),
            format!("--delay-ms={SENTENCE_DELAY_MS}"),
        ];
        if offset_ms != 0 {
            args.push(format!("--offset-ms={offset_ms}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let sim = start_guarded(
            &format!("{name}-sim"),
            None,
            &bin("tt-gpssim"),
            &args,
            self.dir.path(),
        );
        assert!(
            wait_for(Duration::from_secs(10), || link.exists().then_some(())).is_some(),
            "the simulator made no pty link; its log: {}",
            sim.log()
        );
        // -b: read only, never probe the receiver.
        let gpsd = start_guarded(
            &format!("{name}-gpsd"),
            Some(&ns),
            Path::new("/usr/sbin/gpsd"),
            &["-N", "-n", "-b", "-S", "2947", &link_text],
            self.dir.path(),
        );
        node.receiver = Some(Receiver { sim, gpsd });
    }

    /// Starts master `master` (again) from its configuration file.
    pub fn start_master(&mut self, master: usize) {
        let ns = self.net.master_ns(master);
        let node = &mut self.masters[master];
        node.starts += 1;
        let process = start_guarded(
            &format!("m{master}-timemaster{}", node.starts),
            Some(&ns),
            &bin("timemaster"),
            &["--config", node.config.to_str().expect("a UTF-8 path")],
            self.dir.path(),
        );
        node.master = Some(process);
    }

    /// Master `master`'s process id (`ip netns exec` execs the daemon, so
    /// this is the daemon's own).
    pub fn master_pid(&self, master: usize) -> u32 {
        self.masters[master]
            .master
            .as_ref()
            .expect("the master is running")
            .pid()
    }

    /// Sends SIGSTOP to master `master`.
    pub fn stop_master(&self, master: usize) {
        signal(self.master_pid(master), "-STOP");
    }

    /// Sends SIGCONT to master `master`.
    pub fn continue_master(&self, master: usize) {
        signal(self.master_pid(master), "-CONT");
    }

    /// Kills master `master` with SIGKILL and waits until it is gone.
    pub fn kill_master(&mut self, master: usize) {
        signal(self.master_pid(master), "-KILL");
        let mut process = self.masters[master].master.take().expect("it was running");
        let gone = wait_for(Duration::from_secs(5), || {
            (!process.running()).then_some(())
        });
        assert!(gone.is_some(), "master {master} survived SIGKILL");
    }

    /// Master `master`'s log, every run of it.
    pub fn master_log(&self, master: usize) -> String {
        let node = &self.masters[master];
        (1..=node.starts)
            .map(|start| {
                let path = self
                    .dir
                    .path()
                    .join(format!("m{master}-timemaster{start}.log"));
                std::fs::read_to_string(path).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("--- restarted ---\n")
    }

    /// Slave `slave`'s log.
    pub fn slave_log(&self, slave: usize) -> String {
        self.slaves[slave].log()
    }

    /// Panics with the log tail of any daemon, gpsd or simulator that has
    /// exited.
    pub fn assert_running(&mut self) {
        for node in &mut self.masters {
            if let Some(receiver) = &mut node.receiver {
                receiver.sim.assert_running();
                receiver.gpsd.assert_running();
            }
            if let Some(master) = &mut node.master {
                master.assert_running();
            }
        }
        for slave in &mut self.slaves {
            slave.assert_running();
        }
    }

    /// Every running process with a name for it.
    pub fn processes(&self) -> Vec<(String, u32)> {
        let mut all = Vec::new();
        for (index, node) in self.masters.iter().enumerate() {
            if let Some(receiver) = &node.receiver {
                all.push((format!("m{index} tt-gpssim"), receiver.sim.pid()));
                all.push((format!("m{index} gpsd"), receiver.gpsd.pid()));
            }
            if let Some(master) = &node.master {
                all.push((format!("m{index} timemaster"), master.pid()));
            }
        }
        for (index, slave) in self.slaves.iter().enumerate() {
            all.push((format!("s{index} timeslave"), slave.pid()));
        }
        all
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // A stopped master would hold SIGTERM until SIGKILL; wake it first.
        for node in &self.masters {
            if let Some(master) = &node.master {
                signal(master.pid(), "-CONT");
            }
        }
    }
}

/// Starts `program` in network namespace `namespace` (`None`: this one)
/// through `setpriv --pdeathsig KILL`, so that it is killed when the
/// thread that started it ends, even if this test process is killed
/// outright and its guards never run. `ip netns exec` and `setpriv` each
/// exec the next program, so the PID is the program's own.
fn start_guarded(
    name: &str,
    namespace: Option<&str>,
    program: &Path,
    args: &[&str],
    dir: &Path,
) -> Proc {
    let program = program.to_str().expect("a UTF-8 path");
    let mut full: Vec<&str> = Vec::new();
    if let Some(namespace) = namespace {
        full.extend(["netns", "exec", namespace, "setpriv"]);
    }
    full.extend(["--pdeathsig", "KILL", "--", program]);
    full.extend(args);
    let launcher = if namespace.is_some() { "ip" } else { "setpriv" };
    Proc::start(name, Path::new(launcher), &full, dir)
}

/// Sends a signal with kill(1) to a process this module started, by its
/// PID.
fn signal(pid: u32, name: &str) {
    signal_pid(&pid.to_string(), name);
}

fn signal_pid(pid: &str, name: &str) {
    let _ = Command::new("kill").args([name, pid]).status();
}

/// CPU time (user and system) process `pid` has used so far, in
/// milliseconds, from `/proc/PID/stat`; `None` once it is gone.
pub fn cpu_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it are
    // counted from its closing parenthesis: utime and stime are fields 14
    // and 15 of the whole line.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_s = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
    (ticks_per_s > 0).then(|| (utime + stime) * 1_000 / ticks_per_s)
}

fn write_master_config(path: &Path, master: usize) {
    let peers: Vec<String> = (0..MASTERS)
        .filter(|&other| other != master)
        .map(|other| format!("\"{}\"", master_address(other)))
        .collect();
    let (min_delay_us, max_delay_us) = DELAY_RANGE_US;
    std::fs::write(
        path,
        format!(
            "listen = \"{}\"\ndrift-ppm = {DRIFT_PPM}\nmax-falsetickers = 0\npeers = [{}]\n\n\
             [[source]]\nname = \"gps0\"\nkind = \"gpsd\"\naddress = \"127.0.0.1:2947\"\n\
             min-delay-us = {min_delay_us}\nmax-delay-us = {max_delay_us}\n",
            master_address(master),
            peers.join(", ")
        ),
    )
    .expect("config file in the test's directory");
}

fn write_slave_config(path: &Path, dir: &Path, slave: usize) {
    let masters: Vec<String> = (0..MASTERS)
        .map(|master| format!("\"{}\"", master_address(master)))
        .collect();
    std::fs::write(
        path,
        format!(
            "masters = [{}]\nmax-falsetickers = 1\npoll-interval-ms = {}\n\
             request-timeout-ms = {}\ndrift-ppm = {DRIFT_PPM}\nmax-holdover-s = {}\n\
             listen = \"\"\nsocket = \"{}\"\nshm-path = \"{}\"\n",
            masters.join(", "),
            POLL_INTERVAL.as_millis(),
            REQUEST_TIMEOUT.as_millis(),
            MAX_HOLDOVER.as_secs(),
            dir.join(format!("s{slave}.sock")).display(),
            dir.join(format!("s{slave}.shm")).display(),
        ),
    )
    .expect("config file in the test's directory");
}
