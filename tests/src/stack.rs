//! Building blocks for tests that run the service's real processes: a
//! simulated receiver read by a real gpsd, and timemasters and timeslaves
//! with config files written into the test's directory.

use crate::procs::{bin, free_port, wait_for, Proc};
use std::path::Path;
use std::time::Duration;

/// A simulated receiver on a pty and the gpsd that reads it.
pub struct GpsFeed {
    /// The simulator.
    pub sim: Proc,
    /// gpsd.
    pub gpsd: Proc,
    /// gpsd's TCP port on 127.0.0.1.
    pub port: u16,
}

impl GpsFeed {
    /// Starts `tt-gpssim` writing each second's sentences `delay_ms` after
    /// the second, labelled `offset_ms` away from the host clock, and a
    /// gpsd (read-only, so it does not probe the receiver) on a free port.
    pub fn start(dir: &Path, name: &str, delay_ms: i64, offset_ms: i64) -> GpsFeed {
        GpsFeed::start_on(dir, name, delay_ms, offset_ms, free_port())
    }

    /// As [`GpsFeed::start`], with gpsd on a given port.
    pub fn start_on(dir: &Path, name: &str, delay_ms: i64, offset_ms: i64, port: u16) -> GpsFeed {
        let link = dir.join(name);
        let mut args = vec![
            "--link".to_string(),
            link.display().to_string(),
            "--delay-ms".to_string(),
            delay_ms.to_string(),
        ];
        if offset_ms != 0 {
            args.push(format!("--offset-ms={offset_ms}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let sim = Proc::start(&format!("{name}-sim"), &bin("tt-gpssim"), &args, dir);
        assert!(
            wait_for(Duration::from_secs(10), || link.exists().then_some(())).is_some(),
            "the simulator made no pty link; its log: {}",
            sim.log()
        );
        let gpsd = Proc::start(
            &format!("{name}-gpsd"),
            Path::new("/usr/sbin/gpsd"),
            &[
                "-N",
                "-n",
                "-b",
                "-S",
                &port.to_string(),
                &link.display().to_string(),
            ],
            dir,
        );
        GpsFeed { sim, gpsd, port }
    }
}

/// Starts a timemaster named `name` on a free port, reading one gpsd
/// source on `gpsd_port` with the delay range `[min_delay_us,
/// max_delay_us]` and comparing itself with `peers`. `extra` is appended to
/// the config. Returns the process and its address.
pub fn start_master(
    dir: &Path,
    name: &str,
    gpsd_port: u16,
    (min_delay_us, max_delay_us): (i64, i64),
    peers: &[String],
    extra: &str,
) -> (Proc, String) {
    let address = format!("127.0.0.1:{}", free_port());
    start_master_at(
        dir,
        name,
        &address,
        gpsd_port,
        (min_delay_us, max_delay_us),
        peers,
        extra,
    )
}

/// As [`start_master`], on a given address.
pub fn start_master_at(
    dir: &Path,
    name: &str,
    address: &str,
    gpsd_port: u16,
    (min_delay_us, max_delay_us): (i64, i64),
    peers: &[String],
    extra: &str,
) -> (Proc, String) {
    let peers: Vec<String> = peers.iter().map(|p| format!("\"{p}\"")).collect();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "listen = \"{address}\"\npeers = [{}]\n{extra}\n\
             [[source]]\nname = \"gps0\"\nkind = \"gpsd\"\naddress = \"127.0.0.1:{gpsd_port}\"\n\
             min-delay-us = {min_delay_us}\nmax-delay-us = {max_delay_us}\n",
            peers.join(", ")
        ),
    )
    .expect("config file in the test's directory");
    let process = Proc::start(
        name,
        &bin("timemaster"),
        &["--config", &config.display().to_string()],
        dir,
    );
    (process, address.to_string())
}

/// A blocking gRPC client for tests, with its own small runtime.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    client: tt_client::TrueTimeClient<tonic::transport::Channel>,
}

impl Client {
    /// Connects to `target` (see `tt_client::connect`), retrying for up to
    /// `limit`.
    pub fn connect(target: &str, limit: Duration) -> Option<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime starts");
        let client = wait_for(limit, || runtime.block_on(tt_client::connect(target)).ok())?;
        Some(Client { runtime, client })
    }

    /// `Now`, checked.
    pub fn now(&mut self) -> Result<tt_proto::NowAnswer, String> {
        let reply = self
            .runtime
            .block_on(self.client.now(tt_proto::v1::NowRequest {}))
            .map_err(|status| status.to_string())?;
        reply.into_inner().check().map_err(|e| e.to_string())
    }

    /// `Status`.
    pub fn status(&mut self) -> Result<tt_proto::v1::StatusResponse, String> {
        self.runtime
            .block_on(self.client.status(tt_proto::v1::StatusRequest {}))
            .map(tonic::Response::into_inner)
            .map_err(|status| status.to_string())
    }
}
