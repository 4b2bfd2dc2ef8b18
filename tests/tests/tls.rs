//! Mutual TLS between real slaves and masters, with certificates made at
//! test time: a CA, masters' certificates for 127.0.0.1, a slave's client
//! certificate, and a rogue CA with a "master" certificate of its own for
//! the same address.
//!
//! - Three TLS masters that require client certificates (and poll each
//!   other over TLS) serve a slave that trusts their CA. One master is
//!   stopped and a rogue one, fed by a receiver spoofed by 2 s, takes its
//!   address: the slave marks it unreachable because its certificate is
//!   not trusted and keeps serving intervals that hold the host clock.
//! - A slave that polls in the clear, one without a client certificate and
//!   one whose certificate comes from the rogue CA all get no time from a
//!   master that requires a certificate, each with a reason that says why.
//!   The last one's certificate is then renewed in place from the right CA
//!   and, after SIGHUP, it gets the master's time without a restart.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tt_proto::v1::{Member, Verdict};
use tt_proto::NowAnswer;
use tt_tests::procs::{bin, free_port, wait_for, Proc, TempDir};
use tt_tests::stack::{start_master_at, Client, GpsFeed};

/// The delay range of the end-to-end test: the simulator writes 50 ms
/// after each second; 20 to 145 ms covers it with room for scheduling.
const DELAY_RANGE_US: (i64, i64) = (20_000, 145_000);

/// A certificate authority made for one test.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and key written as PEM files.
struct Identity {
    cert: PathBuf,
    key: PathBuf,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names is valid");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ring makes a key");
        Authority {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a CA signs itself"),
        }
    }

    /// Writes the CA's certificate to `path`.
    fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.issuer.pem()).expect("CA file in the test's directory");
        path.to_path_buf()
    }

    /// A certificate for `names` (DNS names or IP addresses), usable to
    /// serve and to authenticate as a client, written as
    /// `<dir>/<label>.pem` and `<dir>/<label>.key` (mode 0600).
    fn issue(&self, dir: &Path, label: &str, names: &[&str]) -> Identity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("the names are valid");
        params.distinguished_name.push(DnType::CommonName, label);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().expect("ring makes a key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("the CA signs the certificate");
        let identity = Identity {
            cert: dir.join(format!("{label}.pem")),
            key: dir.join(format!("{label}.key")),
        };
        std::fs::write(&identity.cert, cert.pem()).expect("certificate file");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&identity.key)
            .expect("key file");
        std::io::Write::write_all(&mut file, key.serialize_pem().as_bytes()).expect("key written");
        identity
    }
}

/// The master's TLS keys: serve with `identity`, require clients from
/// `client_ca` when given, poll peers trusting `peer_ca` when given.
fn master_tls(identity: &Identity, client_ca: Option<&Path>, peer_ca: Option<&Path>) -> String {
    let mut text = format!(
        "tls-cert = \"{}\"\ntls-key = \"{}\"\n",
        identity.cert.display(),
        identity.key.display()
    );
    if let Some(ca) = client_ca {
        text.push_str(&format!("tls-client-ca = \"{}\"\n", ca.display()));
    }
    if let Some(ca) = peer_ca {
        text.push_str(&format!("tls-ca = \"{}\"\n", ca.display()));
    }
    text
}

/// Starts a timeslave polling `masters` with the `tls` keys, serving on a
/// free loopback port only; returns it and its address.
fn start_slave(dir: &Path, name: &str, masters: &[String], tls: &str) -> (Proc, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let masters: Vec<String> = masters.iter().map(|m| format!("\"{m}\"")).collect();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "masters = [{}]\nlisten = \"{listen}\"\nsocket = \"\"\nshm-path = \"\"\n\
             metrics-listen = \"\"\npoll-interval-ms = 1000\n{tls}",
            masters.join(", ")
        ),
    )
    .expect("config file in the test's directory");
    let slave = Proc::start(
        name,
        &bin("timeslave"),
        &["--config", &config.display().to_string()],
        dir,
    );
    (slave, listen)
}

/// The slave's member for master `name`, if its status names one.
fn member(client: &mut Client, name: &str) -> Option<Member> {
    let status = client.status().ok()?;
    status.members.into_iter().find(|m| m.name == name)
}

/// Asks `client` for now and checks that a synchronized answer holds the
/// host clock at some instant of the call (the slave read its clock
/// somewhere between the two host-clock reads around it, and truth was in
/// the interval then); returns whether it was synchronized. A master 2 s
/// off that got into the answer would put it seconds away.
fn holds_host_clock(client: &mut Client) -> bool {
    let before = tt_clock::realtime_ns();
    let answer = client.now();
    let after = tt_clock::realtime_ns();
    match answer {
        Ok(NowAnswer::Synchronized(interval)) => {
            assert!(
                interval.earliest().unix_nanos() <= after
                    && before <= interval.latest().unix_nanos(),
                "{interval} misses the host clock during the call [{before}, {after}]"
            );
            true
        }
        _ => false,
    }
}

#[test]
fn a_rogue_master_on_a_real_masters_address_is_refused_and_time_stays_true() {
    let dir = TempDir::new("tls-rogue");
    let path = dir.path();
    let ca = Authority::new("truetime test CA");
    let ca_file = ca.write(&path.join("ca.pem"));
    let rogue_ca = Authority::new("rogue CA");
    let rogue_ca_file = rogue_ca.write(&path.join("rogue-ca.pem"));

    let honest = GpsFeed::start(path, "honest", 50, 0);
    let spoofed = GpsFeed::start(path, "spoofed", 50, 2_000);

    let addresses: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let peers_of = |i: usize| -> Vec<String> {
        addresses
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let mut masters: Vec<Proc> = (0..3)
        .map(|i| {
            let identity = ca.issue(path, &format!("master{i}"), &["127.0.0.1"]);
            let tls = master_tls(&identity, Some(&ca_file), Some(&ca_file));
            start_master_at(
                path,
                &format!("master{i}"),
                &addresses[i],
                honest.port,
                DELAY_RANGE_US,
                &peers_of(i),
                &tls,
            )
            .0
        })
        .collect();

    // One master written https://, the others host:port: with tls-ca all
    // are polled over TLS.
    let names = vec![
        format!("https://{}", addresses[0]),
        addresses[1].clone(),
        addresses[2].clone(),
    ];
    let slave_identity = ca.issue(path, "slave", &["slave.truetime.test"]);
    let slave_tls = format!(
        "tls-ca = \"{}\"\ntls-cert = \"{}\"\ntls-key = \"{}\"\nmax-falsetickers = 1\n",
        ca_file.display(),
        slave_identity.cert.display(),
        slave_identity.key.display()
    );
    let (mut slave, listen) = start_slave(path, "slave", &names, &slave_tls);
    let mut client = Client::connect(&format!("http://{listen}"), Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the slave never listened; its log:\n{}", slave.log()));

    // Over TLS every master is in the majority.
    let all_agree = wait_for(Duration::from_secs(60), || {
        let status = client.status().ok()?;
        let agree = status
            .members
            .iter()
            .all(|m| m.verdict == Verdict::InMajority as i32);
        (agree && status.members.len() == 3).then_some(())
    });
    for master in &mut masters {
        master.assert_running();
    }
    slave.assert_running();
    assert!(
        all_agree.is_some(),
        "the masters never all agreed over TLS: {:?}\nslave log:\n{}",
        client.status(),
        slave.log()
    );
    assert!(holds_host_clock(&mut client), "synchronized over TLS");

    // The masters poll each other over TLS, with client certificates.
    let mut master0 = Client::connect(&format!("http://{}", addresses[0]), Duration::from_secs(1));
    assert!(
        master0.as_mut().is_none_or(|c| c.now().is_err()),
        "a plaintext client got an answer from a TLS master"
    );
    drop(master0);

    // Master 2 is stopped; a rogue master takes its address, with a
    // certificate for 127.0.0.1 from the rogue CA, serving a time 2 s off
    // and letting anyone in.
    let stopped = masters.pop().expect("three masters");
    drop(stopped);
    let rogue_identity = rogue_ca.issue(path, "rogue", &["127.0.0.1"]);
    let (mut rogue, _) = start_master_at(
        path,
        "rogue",
        &addresses[2],
        spoofed.port,
        DELAY_RANGE_US,
        &[],
        &master_tls(&rogue_identity, None, None),
    );

    // The rogue is a real threat: a client trusting its CA gets its time,
    // 2 s off.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    let trusting_rogue = tt_ops::tls::ClientTls::load(&rogue_ca_file, None).expect("rogue CA");
    let endpoint = trusting_rogue
        .endpoint(&addresses[2], "127.0.0.1")
        .expect("endpoint");
    let rogue_interval = wait_for(Duration::from_secs(40), || {
        runtime.block_on(async {
            let channel = endpoint.connect().await.ok()?;
            let mut rogue_client = tt_proto::v1::true_time_client::TrueTimeClient::new(channel);
            let answer = rogue_client
                .now(tt_proto::v1::NowRequest {})
                .await
                .ok()?
                .into_inner();
            match answer.check() {
                Ok(NowAnswer::Synchronized(interval)) => Some(interval),
                _ => None,
            }
        })
    });
    rogue.assert_running();
    let rogue_interval = rogue_interval
        .unwrap_or_else(|| panic!("the rogue master never served; its log:\n{}", rogue.log()));
    let now = tt_clock::realtime_ns();
    assert!(
        rogue_interval.earliest().unix_nanos() > now + 1_000_000_000,
        "the rogue's time {rogue_interval} is not the spoofed 2 s ahead of {now}"
    );

    // The slave refuses it: unreachable, its certificate not trusted.
    let refused = wait_for(Duration::from_secs(20), || {
        let m = member(&mut client, &addresses[2])?;
        (m.verdict == Verdict::Unreachable as i32 && m.detail.contains("certificate not trusted"))
            .then_some(m.detail)
    });
    let detail = refused.unwrap_or_else(|| {
        panic!(
            "the slave did not refuse the rogue: {:?}\nslave log:\n{}",
            member(&mut client, &addresses[2]),
            slave.log()
        )
    });
    assert!(detail.contains("does not chain to tls-ca"), "{detail}");

    // For ten poll rounds it keeps serving intervals that hold the host
    // clock, from the two honest masters, and never counts the rogue.
    let mut synchronized = 0;
    for _ in 0..20 {
        if holds_host_clock(&mut client) {
            synchronized += 1;
        }
        let rogue_member = member(&mut client, &addresses[2]).expect("the rogue's address");
        assert_eq!(
            rogue_member.verdict,
            Verdict::Unreachable as i32,
            "{rogue_member:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(synchronized, 20, "the slave stopped serving");
    let status = client.status().expect("status");
    for m in &status.members[..2] {
        assert_eq!(m.verdict, Verdict::InMajority as i32, "{m:?}");
    }

    // The honest masters refuse the rogue as a peer too.
    let own = ca.issue(path, "observer", &["observer.truetime.test"]);
    let observer = tt_ops::tls::ClientTls::load(&ca_file, Some((&own.cert, &own.key)))
        .expect("the CA and the observer's certificate load");
    for (i, address) in addresses[..2].iter().enumerate() {
        let peer_detail = wait_for(Duration::from_secs(20), || {
            let status = tls_status(&runtime, &observer, address)?;
            let peer = status
                .members
                .into_iter()
                .find(|m| m.kind == "peer" && m.name == addresses[2])?;
            peer.detail
                .contains("certificate not trusted")
                .then_some(peer.verdict)
        });
        assert_eq!(
            peer_detail,
            Some(Verdict::Unreachable as i32),
            "master{i} did not refuse the rogue peer; its log:\n{}",
            masters[i].log()
        );
    }
    for master in &mut masters {
        master.assert_running();
    }
    slave.assert_running();
}

/// The status of the master at `address`, asked over TLS with `tls`.
fn tls_status(
    runtime: &tokio::runtime::Runtime,
    tls: &tt_ops::tls::ClientTls,
    address: &str,
) -> Option<tt_proto::v1::StatusResponse> {
    let endpoint = tls.endpoint(address, "127.0.0.1").ok()?;
    runtime.block_on(async {
        let channel = endpoint.connect().await.ok()?;
        let mut client = tt_proto::v1::true_time_client::TrueTimeClient::new(channel);
        let status = client.status(tt_proto::v1::StatusRequest {}).await.ok()?;
        Some(status.into_inner())
    })
}

#[test]
fn clients_without_a_trusted_certificate_get_no_time() {
    let dir = TempDir::new("tls-clients");
    let path = dir.path();
    let ca = Authority::new("truetime test CA");
    let ca_file = ca.write(&path.join("ca.pem"));
    let rogue_ca = Authority::new("rogue CA");
    let feed = GpsFeed::start(path, "gps", 50, 0);

    let address = format!("127.0.0.1:{}", free_port());
    let identity = ca.issue(path, "master", &["127.0.0.1"]);
    let (mut master, _) = start_master_at(
        path,
        "master",
        &address,
        feed.port,
        DELAY_RANGE_US,
        &[],
        &master_tls(&identity, Some(&ca_file), None),
    );

    // A key that is not the certificate's: the master does not start,
    // and says which files.
    let other = ca.issue(path, "other", &["127.0.0.1"]);
    let mismatched = Identity {
        cert: identity.cert.clone(),
        key: other.key.clone(),
    };
    let (mut broken, _) = start_master_at(
        path,
        "broken",
        &format!("127.0.0.1:{}", free_port()),
        feed.port,
        DELAY_RANGE_US,
        &[],
        &master_tls(&mismatched, None, None),
    );
    let exited = wait_for(Duration::from_secs(10), || {
        (!broken.running()).then_some(())
    });
    let log = broken.log();
    assert!(
        exited.is_some(),
        "a master with a mismatched key kept running: {log}"
    );
    assert!(
        log.contains("do not make a TLS identity") && log.contains("other.key"),
        "{log}"
    );

    let good = ca.issue(path, "good", &["good.truetime.test"]);
    let forged = rogue_ca.issue(path, "forged", &["forged.truetime.test"]);
    let with_cert = |id: &Identity| {
        format!(
            "tls-ca = \"{}\"\ntls-cert = \"{}\"\ntls-key = \"{}\"\n",
            ca_file.display(),
            id.cert.display(),
            id.key.display()
        )
    };
    let masters = [address.clone()];
    let (mut trusted, trusted_at) = start_slave(path, "trusted", &masters, &with_cert(&good));
    let (mut plain, plain_at) = start_slave(path, "plain", &masters, "");
    let (mut anonymous, anonymous_at) = start_slave(
        path,
        "anonymous",
        &masters,
        &format!("tls-ca = \"{}\"\n", ca_file.display()),
    );
    let (mut impostor, impostor_at) = start_slave(path, "impostor", &masters, &with_cert(&forged));

    let connect = |at: &str| {
        Client::connect(&format!("http://{at}"), Duration::from_secs(20))
            .expect("every slave listens")
    };
    // The slave with a trusted certificate gets the master's time.
    let mut client = connect(&trusted_at);
    let answered = wait_for(Duration::from_secs(40), || {
        let m = member(&mut client, &address)?;
        (m.verdict == Verdict::InMajority as i32).then_some(())
    });
    master.assert_running();
    trusted.assert_running();
    assert!(
        answered.is_some(),
        "the trusted slave never got the master's time: {:?}\nits log:\n{}",
        member(&mut client, &address),
        trusted.log()
    );
    assert!(holds_host_clock(&mut client));

    // The others: unreachable, each with its reason.
    for (slave, at, expected) in [
        (&mut plain, &plain_at, "does the master require TLS"),
        (
            &mut anonymous,
            &anonymous_at,
            "requires a client certificate (set tls-cert and tls-key)",
        ),
        (
            &mut impostor,
            &impostor_at,
            "does not trust this client's certificate",
        ),
    ] {
        let mut client = connect(at);
        let reason = wait_for(Duration::from_secs(20), || {
            let m = member(&mut client, &address)?;
            (m.verdict == Verdict::Unreachable as i32 && m.detail.contains(expected))
                .then_some(m.detail)
        });
        slave.assert_running();
        assert!(
            reason.is_some(),
            "expected `{expected}`, got {:?}\nits log:\n{}",
            member(&mut client, &address),
            slave.log()
        );
        assert!(matches!(client.now(), Ok(NowAnswer::Unsynchronized(_))));
    }

    // The impostor's certificate is replaced, at the same paths, by one
    // the master's CA issued, and the slave is sent SIGHUP: it reads the
    // files again and gets the master's time, without a restart.
    let renewed = ca.issue(path, "renewed", &["renewed.truetime.test"]);
    std::fs::copy(&renewed.cert, &forged.cert).expect("certificate replaced");
    std::fs::copy(&renewed.key, &forged.key).expect("key replaced");
    let pid_before = impostor.pid();
    impostor.signal(tt_tests::procs::libc_signal::Signal::Hup);
    let mut client = connect(&impostor_at);
    let answered = wait_for(Duration::from_secs(20), || {
        let m = member(&mut client, &address)?;
        (m.verdict == Verdict::InMajority as i32).then_some(())
    });
    impostor.assert_running();
    assert_eq!(impostor.pid(), pid_before);
    assert!(
        answered.is_some(),
        "after its certificate was renewed and SIGHUP, the slave still got no time: {:?}\n\
         its log:\n{}",
        member(&mut client, &address),
        impostor.log()
    );
    assert!(impostor.log().contains("SIGHUP: configuration reloaded"));
    assert!(holds_host_clock(&mut client));
}
